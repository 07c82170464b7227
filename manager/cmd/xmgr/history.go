package main

import (
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/urfave/cli/v2"
)

var historyFlags = []cli.Flag{
	&cli.StringFlag{Name: "format", Usage: "pretty-print history using a Go template"},
	&cli.BoolFlag{Name: "human", Aliases: []string{"H"}, Value: true, Usage: "print sizes and dates in human readable format"},
	&cli.BoolFlag{Name: "no-trunc", Usage: "don't truncate output"},
	&cli.BoolFlag{Name: "quiet", Aliases: []string{"q"}, Usage: "only show image IDs"},
}

var historyCommand = &cli.Command{
	Name:      "history",
	Usage:     "Show the history of an image",
	ArgsUsage: "IMAGE",
	Flags:     historyFlags,
	Action:    runHistory,
}

type historyRow struct{ ID, CreatedSince, CreatedAt, CreatedBy, Size, Comment string }

var historyHeaders = map[string]string{
	"ID": "IMAGE", "CreatedSince": "CREATED", "CreatedAt": "CREATED AT",
	"CreatedBy": "CREATED BY", "Size": "SIZE", "Comment": "COMMENT",
}

func runHistory(c *cli.Context) error {
	if err := exactArgs(c, 1); err != nil {
		return err
	}
	cl, err := connect(c)
	if err != nil {
		return err
	}
	items, err := cl.ImageHistory(c.Context, c.Args().First())
	if err != nil {
		return err
	}
	human, noTrunc := c.Bool("human"), c.Bool("no-trunc")
	var rows []any
	for _, h := range items {
		created := time.Unix(h.Created, 0)
		r := historyRow{ID: h.ID, Comment: h.Comment, CreatedBy: strings.ReplaceAll(h.CreatedBy, "\t", " ")}
		if !noTrunc {
			if r.ID != "<missing>" {
				r.ID = shortID(r.ID)
			}
			r.CreatedBy = ellipsis(r.CreatedBy, 45)
		}
		if human {
			r.CreatedSince, r.Size = since(created), humanSize(h.Size)
		} else {
			r.CreatedSince, r.Size = created.Format(time.RFC3339), fmt.Sprint(h.Size)
		}
		r.CreatedAt = created.Format(time.RFC3339)
		if c.Bool("quiet") {
			fmt.Println(r.ID)
			continue
		}
		rows = append(rows, r)
	}
	if c.Bool("quiet") {
		return nil
	}
	def := "table {{.ID}}\t{{.CreatedSince}}\t{{.CreatedBy}}\t{{.Size}}\t{{.Comment}}"
	return table{format: c.String("format"), def: def, headers: historyHeaders}.write(os.Stdout, rows)
}
