package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"runtime"
	"slices"
	"strings"
	"text/template"
	"time"

	units "github.com/docker/go-units"
	"github.com/urfave/cli/v2"

	"github.com/xrt-dev/xrt/manager/api/client"
	"github.com/xrt-dev/xrt/manager/api/types"
)

var versionCommand = &cli.Command{
	Name:   "version",
	Usage:  "Show the xmgr version information",
	Flags:  []cli.Flag{&cli.StringFlag{Name: "format", Aliases: []string{"f"}, Usage: "format the output using the given Go template"}},
	Action: runVersion,
}

type clientVersion struct {
	Version, APIVersion, DefaultAPIVersion, GoVersion, Os, Arch string
}

// versionInfo is what `version --format` templates see: {{.Client.Version}},
// {{.Server.APIVersion}}, as docker.
type versionInfo struct {
	Client clientVersion
	Server *types.Version
}

const versionTemplate = `Client:
 Version:           {{.Client.Version}}
 API version:       {{.Client.APIVersion}}
 Go version:        {{.Client.GoVersion}}
 OS/Arch:           {{.Client.Os}}/{{.Client.Arch}}
{{- if .Server}}

Server:
 Engine:
  Version:          {{.Server.Version}}
  API version:      {{.Server.APIVersion}} (minimum version {{.Server.MinAPIVersion}})
  Go version:       {{.Server.GoVersion}}
  Git commit:       {{.Server.GitCommit}}
  Built:            {{.Server.BuildTime}}
  OS/Arch:          {{.Server.Os}}/{{.Server.Arch}}
  Experimental:     {{.Server.Experimental}}
{{- range .Server.Components}}{{if ne .Name "Engine"}}
 {{.Name}}:
  Version:          {{.Version}}{{end}}{{end}}
{{- end}}
`

func runVersion(c *cli.Context) error {
	v := versionInfo{Client: clientVersion{
		Version: version, APIVersion: types.APIVersion, DefaultAPIVersion: types.APIVersion,
		GoVersion: runtime.Version(), Os: runtime.GOOS, Arch: runtime.GOARCH,
	}}
	tmplText := versionTemplate
	if f := c.String("format"); f != "" {
		tmplText = f + "\n"
	}
	tmpl, err := template.New("").Funcs(templateFuncs).Parse(tmplText)
	if err != nil {
		return usagef("template parsing error: %v", err)
	}
	cl, cerr := connect(c)
	if cerr != nil && c.String("format") != "" {
		return cerr
	}
	if cerr == nil {
		v.Client.APIVersion = cl.Version()
		sv, err := cl.ServerVersion(c.Context)
		if err != nil {
			cerr = err
		} else {
			v.Server = &sv
		}
	}
	var b bytes.Buffer
	if err := tmpl.Execute(&b, v); err != nil {
		return fmt.Errorf("template: %w", err)
	}
	os.Stdout.Write(b.Bytes())
	return cerr
}

var infoCommand = &cli.Command{
	Name:   "info",
	Usage:  "Display system-wide information",
	Flags:  []cli.Flag{&cli.StringFlag{Name: "format", Aliases: []string{"f"}, Usage: "format the output using the given Go template"}},
	Action: runInfo,
}

func runInfo(c *cli.Context) error {
	cl, err := connect(c)
	if err != nil {
		return err
	}
	info, err := cl.Info(c.Context)
	if err != nil {
		return err
	}
	if f := c.String("format"); f != "" {
		if f == "json" {
			return json.NewEncoder(os.Stdout).Encode(info)
		}
		tmpl, err := parseTemplate(f + "\n")
		if err != nil {
			return err
		}
		return tmpl.Execute(os.Stdout, info)
	}
	printInfo(os.Stdout, cl, &info, c.Bool("debug"))
	return nil
}

// printInfo writes the daemon's facts in docker info's layout.
func printInfo(w io.Writer, cl *client.Client, i *types.Info, debug bool) {
	p := func(format string, args ...any) { fmt.Fprintf(w, format+"\n", args...) }
	p("Client:")
	p(" Context:    default")
	p(" Debug Mode: %v", debug)
	p("")
	p("Server:")
	p(" Containers: %d", i.Containers)
	p("  Running: %d", i.ContainersRunning)
	p("  Paused: %d", i.ContainersPaused)
	p("  Stopped: %d", i.ContainersStopped)
	p(" Images: %d", i.Images)
	p(" Server Version: %s", i.ServerVersion)
	p(" Storage Driver: %s", i.Driver)
	for _, kv := range i.DriverStatus {
		p("  %s: %s", kv[0], kv[1])
	}
	p(" Logging Driver: %s", i.LoggingDriver)
	p(" Cgroup Driver: %s", i.CgroupDriver)
	if i.CgroupVersion != "" {
		p(" Cgroup Version: %s", i.CgroupVersion)
	}
	if len(i.Runtimes) > 0 {
		var names []string
		for n := range i.Runtimes {
			names = append(names, n)
		}
		p(" Runtimes: %s", strings.Join(sorted(names), " "))
		p(" Default Runtime: %s", i.DefaultRuntime)
	}
	p(" Kernel Version: %s", i.KernelVersion)
	p(" Operating System: %s", i.OperatingSystem)
	p(" OSType: %s", i.OSType)
	p(" Architecture: %s", i.Architecture)
	p(" CPUs: %d", i.NCPU)
	p(" Total Memory: %s", units.BytesSize(float64(i.MemTotal)))
	p(" Name: %s", i.Name)
	p(" ID: %s", i.ID)
	p(" Docker Root Dir: %s", i.DockerRootDir)
	p(" Debug Mode: %v", i.Debug)
	p(" API Socket: %s", cl.Host())
	if i.IndexServerAddress != "" {
		p(" Registry: %s", i.IndexServerAddress)
	}
	p(" Experimental: %v", i.ExperimentalBuild)
	if i.RegistryConfig != nil && len(i.RegistryConfig.InsecureRegistryCIDRs)+len(i.RegistryConfig.IndexConfigs) > 0 {
		p(" Insecure Registries:")
		for name, ic := range i.RegistryConfig.IndexConfigs {
			if !ic.Secure {
				p("  %s", name)
			}
		}
		for _, cidr := range i.RegistryConfig.InsecureRegistryCIDRs {
			p("  %s", cidr)
		}
	}
	p(" Live Restore Enabled: %v", i.LiveRestoreEnabled)
	for _, wmsg := range i.Warnings {
		fmt.Fprintln(os.Stderr, wmsg)
	}
}

var dfCommand = &cli.Command{
	Name:  "df",
	Usage: "Show xmgr disk usage",
	Flags: []cli.Flag{
		&cli.StringFlag{Name: "format", Usage: "pretty-print using a Go template"},
		&cli.BoolFlag{Name: "verbose", Aliases: []string{"v"}, Usage: "show detailed information on space usage"},
	},
	Action: runDf,
}

type dfRow struct{ Type, TotalCount, Active, Size, Reclaimable string }

var dfHeaders = map[string]string{"Type": "TYPE", "TotalCount": "TOTAL", "Active": "ACTIVE", "Size": "SIZE", "Reclaimable": "RECLAIMABLE"}

func runDf(c *cli.Context) error {
	cl, err := connect(c)
	if err != nil {
		return err
	}
	du, err := cl.DiskUsage(c.Context)
	if err != nil {
		return err
	}
	var active int
	var reclaim int64
	for _, img := range du.Images {
		if img.Containers > 0 {
			active++
		} else {
			reclaim += img.Size - max(img.SharedSize, 0)
		}
	}
	pct := func(part, whole int64) string {
		if whole == 0 {
			return humanSize(part)
		}
		return fmt.Sprintf("%s (%d%%)", humanSize(part), part*100/whole)
	}
	rows := []any{
		dfRow{"Images", fmt.Sprint(len(du.Images)), fmt.Sprint(active), humanSize(du.LayersSize), pct(reclaim, du.LayersSize)},
		dfRow{"Containers", fmt.Sprint(len(du.Containers)), "0", "0B", "0B"},
		dfRow{"Local Volumes", fmt.Sprint(len(du.Volumes)), "0", "0B", "0B"},
		dfRow{"Build Cache", fmt.Sprint(len(du.BuildCache)), "0", "0B", "0B"},
	}
	if c.Bool("verbose") {
		fmt.Println("Images space usage:")
		fmt.Println()
		var imgRows []any
		for _, img := range du.Images {
			for _, r := range imageRows(*img, false) {
				r.ID = shortID(r.ID)
				imgRows = append(imgRows, r)
			}
		}
		def := "table {{.Repository}}\t{{.Tag}}\t{{.ID}}\t{{.CreatedSince}}\t{{.Size}}\t{{.SharedSize}}\t{{.UniqueSize}}\t{{.Containers}}"
		return table{def: def, headers: imageHeaders}.write(os.Stdout, imgRows)
	}
	def := "table {{.Type}}\t{{.TotalCount}}\t{{.Active}}\t{{.Size}}\t{{.Reclaimable}}"
	return table{format: c.String("format"), def: def, headers: dfHeaders}.write(os.Stdout, rows)
}

var eventsCommand = &cli.Command{
	Name:  "events",
	Usage: "Get real time events from the daemon",
	Flags: []cli.Flag{
		&cli.StringSliceFlag{Name: "filter", Aliases: []string{"f"}, Usage: "filter output based on conditions provided (type=, event=, image=, label=)"},
		&cli.StringFlag{Name: "format", Usage: "format the output using the given Go template"},
		&cli.StringFlag{Name: "since", Usage: "show all events created since timestamp (unix seconds or RFC 3339)"},
		&cli.StringFlag{Name: "until", Usage: "stream events until this timestamp"},
	},
	Action: runEvents,
}

func runEvents(c *cli.Context) error {
	f, err := parseFilterFlags(c.StringSlice("filter"))
	if err != nil {
		return err
	}
	var tmpl *template.Template
	if format := c.String("format"); format != "" {
		if tmpl, err = parseTemplate(format + "\n"); err != nil {
			return err
		}
	}
	cl, err := connect(c)
	if err != nil {
		return err
	}
	rc, err := cl.Events(c.Context, client.EventsOptions{Since: c.String("since"), Until: c.String("until"), Filters: f})
	if err != nil {
		return err
	}
	defer rc.Close()
	dec := json.NewDecoder(rc)
	for {
		var m types.EventMessage
		if err := dec.Decode(&m); err != nil {
			if err == io.EOF {
				return nil
			}
			return err
		}
		if tmpl != nil {
			if err := tmpl.Execute(os.Stdout, m); err != nil {
				return err
			}
			continue
		}
		fmt.Println(formatEvent(m))
	}
}

// formatEvent is docker events' line: time, type, action, actor and its
// attributes in parentheses.
func formatEvent(m types.EventMessage) string {
	var attrs []string
	for k, v := range m.Actor.Attributes {
		attrs = append(attrs, k+"="+v)
	}
	ts := time.Unix(0, m.TimeNano).Format("2006-01-02T15:04:05.000000000Z07:00")
	s := fmt.Sprintf("%s %s %s %s", ts, m.Type, m.Action, m.Actor.ID)
	if len(attrs) > 0 {
		s += " (" + strings.Join(sorted(attrs), ", ") + ")"
	}
	return s
}

var systemCommand = &cli.Command{
	Name:  "system",
	Usage: "Manage xmgr",
	Subcommands: []*cli.Command{
		dfCommand,
		withName(infoCommand, "info"),
		withName(eventsCommand, "events"),
	},
}

var imageCommand = &cli.Command{
	Name:  "image",
	Usage: "Manage images",
	Subcommands: []*cli.Command{
		withName(imagesCommand, "ls", "list"),
		withName(inspectCommand, "inspect"),
		withName(historyCommand, "history"),
		withName(tagCommand, "tag"),
		withName(rmiCommand, "rm", "remove"),
		imagePruneCommand,
		withName(saveCommand, "save"),
		withName(loadCommand, "load"),
		withName(importCommand, "import"),
		withName(pullCommand, "pull"),
		withName(pushCommand, "push"),
	},
}

// withName copies a top-level command under a group (`image ls` is
// `images`).
func withName(cmd *cli.Command, name string, aliases ...string) *cli.Command {
	c := *cmd
	c.Name, c.Aliases = name, aliases
	return &c
}

func sorted(s []string) []string { slices.Sort(s); return s }
