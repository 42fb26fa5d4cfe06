// Package synth generates a deterministic, long-tailed synthetic street-scene
// segmentation dataset, the embedded default data of lmpseg's demo.
//
// Generate writes the folder layout: DIR/{train,val}/images/NNNN.png (8-bit
// RGB), DIR/{train,val}/labels/NNNN.png (8-bit grey, one class index per
// pixel) and DIR/{train,val}/classes.txt (the names of Classes, one per line,
// in label order). Every pixel is labelled: the value Ignore (255) is never
// written, there is no ignore band at object boundaries. Boundaries are made
// ambiguous by the image formation instead (blur and noise), as in a camera.
// Stats reads such a folder back and counts the class pixels; Scene renders
// one image in memory; Colorize paints a label map with Palette. The command
// internal/synth/cmd/synthview generates a dataset, prints its class table and
// writes a contact sheet of images beside their colourised labels.
//
// # Determinism
//
// Image i of a split is drawn from its own PCG stream (math/rand/v2) seeded
// with (Seed, split, i), and its per-pixel textures come from integer hash
// noise seeded from that stream. Images are rendered in parallel, but the
// output depends only on Seed, the split sizes and the image size: the same
// options give the same bytes, and image i does not change when more images
// are requested.
//
// # Design
//
// The data exists to compare losses on a long-tailed problem, so it was
// designed once, before any model was trained on it, and is not tuned to any
// training result. The aims were a Cityscapes-like class distribution (a few
// large "stuff" classes holding most pixels, small and thin "things" below
// one per cent), classes that are told apart by a mix of colour, texture,
// shape, position and context rather than by one trivial cue, and enough
// variation between images that a head must generalise.
//
// Each scene is a street seen from a car by a pinhole camera at 1.3-1.7 m
// with the horizon in the upper half. The world is laid out in metres and
// projected, so sizes shrink with depth and thin objects become one or two
// pixels wide in the distance:
//
//   - road (about a third of the pixels): the ground between the kerbs, grey
//     asphalt with noise, repaired patches, dashed lane lines, edge lines and
//     sometimes a crosswalk (markings are road, as in Cityscapes);
//   - sidewalk: paving of per-side colour and tile size, with a lighter kerb;
//   - terrain: grass or soil verges between sidewalk and facades, and gaps;
//   - building: facades in segments along both sides and across the far end,
//     with per-building wall colour, window grids (dark, lit or reflecting the
//     sky), shop fronts and cornices;
//   - vegetation: parks and hedges in place of buildings, and street trees
//     (trunk and a canopy of discs) with blotchy leaf texture;
//   - sky: gradient with clouds, or overcast grey;
//   - car: parked rows along the kerbs and cars in the lanes, drawn as a side
//     face and a rear face with windows, lamps, plate and wheels, over a dark
//     contact shadow;
//   - fence: bars, slats or mesh in front of parks and gaps or along verges;
//     the gaps darken what is behind them but are labelled fence;
//   - pole: street lamps with arms, sign posts and plain posts at the kerb;
//   - traffic_sign: small discs, triangles, diamonds and plates on posts and
//     lamps, some seen from the back (grey);
//   - person: pedestrians on the sidewalks (a few on the road) with random
//     clothing;
//   - bicycle: thin rings and frame strokes, parked or ridden (the rider is
//     person).
//
// Overlap between classes is deliberate: greys are shared by road, sidewalk,
// walls, poles, cars and sign backs; greens by vegetation, terrain, fences,
// cars and clothing; whites by sky, walls, window reflections, cars, signs and
// road markings. Every image also gets its own lighting: sunny scenes with a
// lit and a shaded side and building shadows across the street, or overcast
// ones; a global gain and colour cast, haze near the horizon, vignetting, a
// 3x3 optical blur and sensor noise.
//
// With the default options (seed 1, 120 train and 40 val images of 256x512)
// the train split holds about road 34%, vegetation 21%, building 18%, sky 8%,
// car 7.5%, sidewalk 7%, fence 1.2%, pole 1.0%, person 0.9%, terrain 0.9%,
// traffic_sign 0.45% and bicycle 0.16% of the pixels; every class occurs in
// train. Rendering and encoding cost about 60 ms of CPU per image, so the
// default 160 images take about 5 s on two cores.
package synth
