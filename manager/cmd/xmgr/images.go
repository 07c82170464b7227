package main

import (
	"fmt"
	"os"
	"sort"
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/xrt-dev/xrt/manager/api/types"
)

var imagesFlags = []cli.Flag{
	&cli.BoolFlag{Name: "all", Aliases: []string{"a"}, Usage: "show all images (default hides intermediate images)"},
	&cli.BoolFlag{Name: "digests", Usage: "show digests"},
	&cli.StringSliceFlag{Name: "filter", Aliases: []string{"f"}, Usage: "filter output based on conditions provided (dangling=, reference=, before=, since=, label=)"},
	&cli.StringFlag{Name: "format", Usage: "pretty-print images using a Go template, 'table', 'table TEMPLATE' or 'json'"},
	&cli.BoolFlag{Name: "no-trunc", Usage: "don't truncate output"},
	&cli.BoolFlag{Name: "quiet", Aliases: []string{"q"}, Usage: "only show image IDs"},
}

var imagesCommand = &cli.Command{
	Name:      "images",
	Usage:     "List images",
	ArgsUsage: "[REPOSITORY[:TAG]]",
	Flags:     imagesFlags,
	Action:    runImages,
}

// imageRow is one line of `images`: an image once per repository and tag.
type imageRow struct {
	Repository, Tag, Digest, ID, CreatedSince, CreatedAt, Size string
	SharedSize, UniqueSize, VirtualSize, Containers            string
}

var imageHeaders = map[string]string{
	"Repository": "REPOSITORY", "Tag": "TAG", "Digest": "DIGEST", "ID": "IMAGE ID",
	"CreatedSince": "CREATED", "CreatedAt": "CREATED AT", "Size": "SIZE",
	"SharedSize": "SHARED SIZE", "UniqueSize": "UNIQUE SIZE", "VirtualSize": "VIRTUAL SIZE", "Containers": "CONTAINERS",
}

func parseFilterFlags(values []string) (types.Filters, error) {
	f := types.NewFilters()
	for _, v := range values {
		k, val, ok := strings.Cut(v, "=")
		if !ok || k == "" {
			return nil, usagef("bad format of filter (expected name=value): %q", v)
		}
		f.Add(strings.ToLower(strings.TrimSpace(k)), val)
	}
	return f, nil
}

func runImages(c *cli.Context) error {
	if c.NArg() > 1 {
		return argsError(c, "at most 1 argument")
	}
	f, err := parseFilterFlags(c.StringSlice("filter"))
	if err != nil {
		return err
	}
	if c.NArg() == 1 {
		f.Add("reference", c.Args().First())
	}
	cl, err := connect(c)
	if err != nil {
		return err
	}
	list, err := cl.ImageList(c.Context, c.Bool("all"), f)
	if err != nil {
		return err
	}
	noTrunc := c.Bool("no-trunc")
	var rows []any
	for _, img := range list {
		for _, r := range imageRows(img, c.Bool("digests") || strings.Contains(c.String("format"), ".Digest")) {
			if !noTrunc {
				r.ID = shortID(r.ID)
			}
			rows = append(rows, r)
		}
	}
	if c.Bool("quiet") {
		for _, r := range rows {
			fmt.Println(r.(imageRow).ID)
		}
		return nil
	}
	def := "table {{.Repository}}\t{{.Tag}}\t{{.ID}}\t{{.CreatedSince}}\t{{.Size}}"
	if c.Bool("digests") {
		def = "table {{.Repository}}\t{{.Tag}}\t{{.Digest}}\t{{.ID}}\t{{.CreatedSince}}\t{{.Size}}"
	}
	return table{format: c.String("format"), def: def, headers: imageHeaders}.write(os.Stdout, rows)
}

// imageRows splits an image into Docker's rows: one per repository:tag
// (the digest column from a repo digest of the same repository), one per
// repository known only by digest, or a single <none> row.
func imageRows(img types.ImageSummary, digests bool) []imageRow {
	base := imageRow{
		ID:           img.ID,
		CreatedSince: since(time.Unix(img.Created, 0)),
		CreatedAt:    time.Unix(img.Created, 0).Format("2006-01-02 15:04:05 -0700 MST"),
		Size:         humanSize(img.Size),
		VirtualSize:  humanSize(img.VirtualSize),
		SharedSize:   "N/A", UniqueSize: "N/A", Containers: "N/A",
	}
	if img.SharedSize >= 0 && img.Containers >= 0 {
		base.SharedSize = humanSize(img.SharedSize)
		base.UniqueSize = humanSize(img.Size - img.SharedSize)
	}
	if img.Containers >= 0 {
		base.Containers = fmt.Sprint(img.Containers)
	}
	tags := map[string][]string{}
	dgs := map[string][]string{}
	var repos []string
	add := func(repo string) {
		if _, seen := tags[repo]; !seen {
			if _, seen := dgs[repo]; !seen {
				repos = append(repos, repo)
			}
		}
	}
	for _, rt := range img.RepoTags {
		if rt == "<none>:<none>" {
			continue
		}
		repo, tag := splitRepoTag(rt)
		add(repo)
		tags[repo] = append(tags[repo], tag)
	}
	for _, rd := range img.RepoDigests {
		if rd == "<none>@<none>" {
			continue
		}
		repo, d, ok := strings.Cut(rd, "@")
		if !ok {
			continue
		}
		add(repo)
		dgs[repo] = append(dgs[repo], d)
	}
	sort.Strings(repos)
	var out []imageRow
	for _, repo := range repos {
		d := "<none>"
		if len(dgs[repo]) > 0 {
			d = dgs[repo][0]
		}
		if len(tags[repo]) == 0 {
			for _, dd := range dgs[repo] {
				r := base
				r.Repository, r.Tag, r.Digest = repo, "<none>", dd
				out = append(out, r)
			}
			continue
		}
		for _, tag := range tags[repo] {
			r := base
			r.Repository, r.Tag, r.Digest = repo, tag, d
			out = append(out, r)
		}
	}
	if len(out) == 0 {
		r := base
		r.Repository, r.Tag, r.Digest = "<none>", "<none>", "<none>"
		out = append(out, r)
	}
	return out
}

// splitRepoTag splits "host:5000/a:1" at the tag's colon.
func splitRepoTag(ref string) (repo, tag string) {
	if i := strings.LastIndexByte(ref, ':'); i > strings.LastIndexByte(ref, '/') {
		return ref[:i], ref[i+1:]
	}
	return ref, "<none>"
}
