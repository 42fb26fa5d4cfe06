package data

import "encoding/binary"

// jpegOrientation returns the EXIF orientation (1 to 8) of the JPEG file b:
// tag 0x0112 of IFD0 in the first APP1 "Exif" segment before the image
// data. Anything missing, out of range or malformed gives 1 (as stored).
func jpegOrientation(b []byte) int {
	if len(b) < 2 || b[0] != 0xff || b[1] != 0xd8 {
		return 1
	}
	for p := 2; p+4 <= len(b); {
		if b[p] != 0xff {
			return 1
		}
		marker := b[p+1]
		switch {
		case marker == 0xff: // fill byte
			p++
			continue
		case marker == 0x01 || marker >= 0xd0 && marker <= 0xd8: // no length
			p += 2
			continue
		case marker == 0xda || marker == 0xd9: // start of scan, end of image
			return 1
		}
		n := int(binary.BigEndian.Uint16(b[p+2:]))
		if n < 2 || p+2+n > len(b) {
			return 1
		}
		seg := b[p+4 : p+2+n]
		if marker == 0xe1 && len(seg) >= 6 && string(seg[:6]) == "Exif\x00\x00" {
			return exifOrientation(seg[6:])
		}
		p += 2 + n
	}
	return 1
}

// exifOrientation reads the orientation tag from the TIFF structure t of an
// EXIF segment, or returns 1.
func exifOrientation(t []byte) int {
	if len(t) < 8 {
		return 1
	}
	var bo binary.ByteOrder
	switch string(t[:2]) {
	case "II":
		bo = binary.LittleEndian
	case "MM":
		bo = binary.BigEndian
	default:
		return 1
	}
	if bo.Uint16(t[2:]) != 42 {
		return 1
	}
	ifd := uint64(bo.Uint32(t[4:]))
	if ifd+2 > uint64(len(t)) {
		return 1
	}
	n := uint64(bo.Uint16(t[ifd:]))
	for i := uint64(0); i < n; i++ {
		e := ifd + 2 + 12*i
		if e+12 > uint64(len(t)) {
			return 1
		}
		if bo.Uint16(t[e:]) != 0x0112 {
			continue
		}
		typ, count := bo.Uint16(t[e+2:]), bo.Uint32(t[e+4:])
		var v uint32
		switch {
		case count != 1:
			return 1
		case typ == 3: // SHORT, left-justified in the value field
			v = uint32(bo.Uint16(t[e+8:]))
		case typ == 4: // LONG, seen in some writers' files
			v = bo.Uint32(t[e+8:])
		default:
			return 1
		}
		if v < 1 || v > 8 {
			return 1
		}
		return int(v)
	}
	return 1
}

// orient turns the 3 planes of h*w values in pix as EXIF orientation o asks
// for display (2: mirror left to right, 3: turn 180 degrees, 4: mirror top
// to bottom, 5: transpose, 6: turn 90 degrees clockwise, 7: transverse,
// 8: turn 90 degrees counter-clockwise) and returns the new planes and
// size. Orientation 1 and values outside 1..8 return pix as it is.
func orient(pix []float32, h, w, o int) (out []float32, oh, ow int) {
	// Output pixel (y, x) comes from source index base + y*dy + x*dx.
	var base, dy, dx int
	oh, ow = h, w
	switch o {
	case 2:
		base, dy, dx = w-1, w, -1
	case 3:
		base, dy, dx = h*w-1, -w, -1
	case 4:
		base, dy, dx = (h-1)*w, -w, 1
	case 5:
		base, dy, dx = 0, 1, w
	case 6:
		base, dy, dx = (h-1)*w, 1, -w
	case 7:
		base, dy, dx = h*w-1, -1, -w
	case 8:
		base, dy, dx = w-1, -1, w
	default:
		return pix, h, w
	}
	if o >= 5 {
		oh, ow = w, h
	}
	hw := h * w
	out = make([]float32, len(pix))
	for c := 0; c < 3; c++ {
		src, dst := pix[c*hw:(c+1)*hw], out[c*hw:(c+1)*hw]
		for y := 0; y < oh; y++ {
			row := dst[y*ow : (y+1)*ow]
			s := base + y*dy
			for x := range row {
				row[x] = src[s]
				s += dx
			}
		}
	}
	return out, oh, ow
}
