package cli

import (
	"errors"
	"fmt"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/lmpseg/lmpseg/data"
	"github.com/lmpseg/lmpseg/train"
)

var extractCommand = &cli.Command{
	Name:      "extract",
	Usage:     "fill the feature cache that 'train --cache-features' reads, one shard per process",
	ArgsUsage: " ",
	Description: "Runs the backbone on images i, i+N, i+2N, ... of --data (and --val-data) and stores their\n" +
		"float16 features in the cache under --cache-dir, exactly as 'train --cache-features' would on\n" +
		"a miss, so that training on a complete cache never runs the backbone. --shard i/N picks the\n" +
		"images (default from JOB_COMPLETION_INDEX with --shards N, or SLURM_ARRAY_TASK_ID); any number\n" +
		"of shards may write into one cache folder at once. Entries already present are kept, so a\n" +
		"killed shard continues where it stopped. --status counts the present, missing and stale\n" +
		"entries without running the backbone.",
	Flags: flagGroups(backboneFlags(
		"tensor to cache (default: the model's first output)",
		"validation dataset folder (cached as train --val-data reads it)"), []cli.Flag{
		cacheDirFlag,
		shardFlag("extract"),
		shardsFlag,
		&cli.BoolFlag{Name: "status", Usage: "count present, missing and stale entries of the datasets; extract nothing"},
		quietFlag,
	}, dataFlags, preprocessFlags, runtimeFlags),
	Action: runExtract,
}

// extractOptions reads extract's flags.
func extractOptions(c *cli.Context) (train.ExtractOptions, error) {
	if err := fileMustExist("backbone", c.String("backbone")); err != nil {
		return train.ExtractOptions{}, err
	}
	if c.String("data") == "" {
		return train.ExtractOptions{}, errors.New("--data is required: the training dataset folder whose features to cache")
	}
	sh, err := shardSpec(c)
	if err != nil {
		return train.ExtractOptions{}, err
	}
	pre, err := preprocessFrom(c, data.ImageNet)
	if err != nil {
		return train.ExtractOptions{}, err
	}
	o := train.ExtractOptions{
		Backbone: c.String("backbone"), Feature: c.String("feature"),
		Data: c.String("data"), ValData: c.String("val-data"),
		Format: c.String("format"), Split: c.String("split"), ValSplit: c.String("split"),
		Ignore: int32(c.Int("ignore")), NumClasses: c.Int("classes"),
		Preprocess: pre, CacheDir: c.String("cache-dir"), Shard: sh,
		Device: c.String("device"), Threads: c.Int("threads"),
	}
	if s := c.String("class-names"); s != "" {
		o.ClassNames = strings.Split(s, ",")
	}
	return o, nil
}

func runExtract(c *cli.Context) error {
	o, err := extractOptions(c)
	if err != nil {
		return err
	}
	if err := initRuntime(c); err != nil {
		return err
	}
	ctx, _, stop := signalContext()
	defer stop()
	if c.Bool("status") {
		st, err := train.Status(ctx, o)
		if err != nil {
			return err
		}
		fmt.Fprintln(c.App.Writer, st)
		return nil
	}
	var prog *progress
	o.Progress = func(done, total int) {
		if prog == nil {
			prog = newProgress(c.App.ErrWriter, total, 0, c.Bool("quiet"))
		}
		prog.Step(done, 0, 0)
	}
	st, err := train.Extract(ctx, o)
	if prog != nil {
		prog.Finish()
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(c.App.Writer, "shard %s: %d images, %d written, %d already present, in %.1f s (%.2f images/s); cache %s\n",
		o.Shard, st.Images, st.Written, st.Present, st.Seconds, st.ImagesPerSecond(), st.Dir)
	return nil
}
