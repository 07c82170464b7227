// Package types holds the Docker Engine API (v1.41) request and response
// bodies that xmgr serves and its client reads. They are plain structs with
// Docker's JSON field names, written from the API reference, so that the
// Docker CLI and SDKs decode our answers unchanged. Server and client share
// them; nothing here does I/O.
package types

import "time"

// APIVersion is the Engine API version xmgr implements; MinAPIVersion the
// oldest a client may ask for (as dockerd 20.10).
const (
	APIVersion    = "1.41"
	MinAPIVersion = "1.24"
)

// ErrorResponse is the body of every error answer.
type ErrorResponse struct {
	Message string `json:"message"`
}

// ComponentVersion is one entry of Version.Components.
type ComponentVersion struct {
	Name    string
	Version string
	Details map[string]string `json:",omitempty"`
}

// Version is the body of GET /version.
type Version struct {
	Platform      struct{ Name string } `json:",omitempty"`
	Components    []ComponentVersion    `json:",omitempty"`
	Version       string
	APIVersion    string `json:"ApiVersion"`
	MinAPIVersion string `json:"MinAPIVersion,omitempty"`
	GitCommit     string
	GoVersion     string
	Os            string
	Arch          string
	KernelVersion string `json:",omitempty"`
	Experimental  bool   `json:",omitempty"`
	BuildTime     string `json:",omitempty"`
}

// Commit names the version of a helper binary in Info.
type Commit struct {
	ID       string
	Expected string
}

// PluginsInfo lists the plugins of each kind in Info.
type PluginsInfo struct {
	Volume        []string
	Network       []string
	Authorization []string
	Log           []string
}

// IndexInfo describes one registry in ServiceConfig.
type IndexInfo struct {
	Name     string
	Mirrors  []string
	Secure   bool
	Official bool
}

// ServiceConfig is the daemon's registry configuration in Info.
// InsecureRegistryCIDRs are CIDR strings ("127.0.0.0/8"), as Docker
// marshals its net.IPNet wrapper.
type ServiceConfig struct {
	AllowNondistributableArtifactsCIDRs     []string
	AllowNondistributableArtifactsHostnames []string
	InsecureRegistryCIDRs                   []string
	IndexConfigs                            map[string]*IndexInfo
	Mirrors                                 []string
}

// Runtime is one entry of Info.Runtimes.
type Runtime struct {
	Path string   `json:"path"`
	Args []string `json:"runtimeArgs,omitempty"`
}

// SwarmInfo is always "inactive": xmgr has no swarm mode.
type SwarmInfo struct {
	NodeID           string
	NodeAddr         string
	LocalNodeState   string
	ControlAvailable bool
	Error            string
	RemoteManagers   []any
}

// Info is the body of GET /info.
type Info struct {
	ID                 string
	Containers         int
	ContainersRunning  int
	ContainersPaused   int
	ContainersStopped  int
	Images             int
	Driver             string
	DriverStatus       [][2]string
	SystemStatus       [][2]string `json:",omitempty"`
	Plugins            PluginsInfo
	MemoryLimit        bool
	SwapLimit          bool
	KernelMemory       bool `json:",omitempty"`
	KernelMemoryTCP    bool
	CPUCfsPeriod       bool `json:"CpuCfsPeriod"`
	CPUCfsQuota        bool `json:"CpuCfsQuota"`
	CPUShares          bool
	CPUSet             bool
	PidsLimit          bool
	IPv4Forwarding     bool
	BridgeNfIptables   bool
	BridgeNfIP6tables  bool `json:"BridgeNfIp6tables"`
	Debug              bool
	NFd                int
	OomKillDisable     bool
	NGoroutines        int
	SystemTime         string
	LoggingDriver      string
	CgroupDriver       string
	CgroupVersion      string `json:",omitempty"`
	NEventsListener    int
	KernelVersion      string
	OperatingSystem    string
	OSVersion          string
	OSType             string
	Architecture       string
	IndexServerAddress string
	RegistryConfig     *ServiceConfig
	NCPU               int
	MemTotal           int64
	GenericResources   []any
	DockerRootDir      string
	HTTPProxy          string `json:"HttpProxy"`
	HTTPSProxy         string `json:"HttpsProxy"`
	NoProxy            string
	Name               string
	Labels             []string
	ExperimentalBuild  bool
	ServerVersion      string
	Runtimes           map[string]Runtime
	DefaultRuntime     string
	Swarm              SwarmInfo
	LiveRestoreEnabled bool
	Isolation          string
	InitBinary         string
	ContainerdCommit   Commit
	RuncCommit         Commit
	InitCommit         Commit
	SecurityOptions    []string
	Warnings           []string
}

// HealthConfig is an image's HEALTHCHECK.
type HealthConfig struct {
	Test        []string      `json:",omitempty"`
	Interval    time.Duration `json:",omitempty"`
	Timeout     time.Duration `json:",omitempty"`
	StartPeriod time.Duration `json:",omitempty"`
	Retries     int           `json:",omitempty"`
}

// ContainerConfig is Docker's container.Config, as it appears in an image's
// inspect output (Config and ContainerConfig).
type ContainerConfig struct {
	Hostname        string
	Domainname      string
	User            string
	AttachStdin     bool
	AttachStdout    bool
	AttachStderr    bool
	ExposedPorts    map[string]struct{} `json:",omitempty"`
	Tty             bool
	OpenStdin       bool
	StdinOnce       bool
	Env             []string
	Cmd             []string
	Healthcheck     *HealthConfig `json:",omitempty"`
	ArgsEscaped     bool          `json:",omitempty"`
	Image           string
	Volumes         map[string]struct{}
	WorkingDir      string
	Entrypoint      []string
	NetworkDisabled bool   `json:",omitempty"`
	MacAddress      string `json:",omitempty"`
	OnBuild         []string
	Labels          map[string]string
	StopSignal      string   `json:",omitempty"`
	StopTimeout     *int     `json:",omitempty"`
	Shell           []string `json:",omitempty"`
}

// GraphDriverData names the storage driver and its data for an image.
type GraphDriverData struct {
	Data map[string]string
	Name string
}

// RootFS lists an image's layers by diff ID.
type RootFS struct {
	Type      string
	Layers    []string `json:",omitempty"`
	BaseLayer string   `json:",omitempty"`
}

// ImageMetadata holds local facts about an image.
type ImageMetadata struct {
	LastTagTime time.Time `json:",omitempty"`
}

// ImageInspect is the body of GET /images/{name}/json.
type ImageInspect struct {
	ID              string `json:"Id"`
	RepoTags        []string
	RepoDigests     []string
	Parent          string
	Comment         string
	Created         string
	Container       string
	ContainerConfig *ContainerConfig
	DockerVersion   string
	Author          string
	Config          *ContainerConfig
	Architecture    string
	Variant         string `json:",omitempty"`
	Os              string
	OsVersion       string `json:",omitempty"`
	Size            int64
	VirtualSize     int64
	GraphDriver     GraphDriverData
	RootFS          RootFS
	Metadata        ImageMetadata
}

// ImageSummary is one entry of GET /images/json.
type ImageSummary struct {
	Containers  int64
	Created     int64
	ID          string `json:"Id"`
	Labels      map[string]string
	ParentID    string `json:"ParentId"`
	RepoDigests []string
	RepoTags    []string
	SharedSize  int64
	Size        int64
	VirtualSize int64
}

// HistoryResponseItem is one entry of GET /images/{name}/history, newest
// first.
type HistoryResponseItem struct {
	Comment   string
	Created   int64
	CreatedBy string
	ID        string `json:"Id"`
	Size      int64
	Tags      []string
}

// ImageDeleteResponseItem is one entry of DELETE /images/{name} and of a
// prune report: exactly one of the fields is set.
type ImageDeleteResponseItem struct {
	Deleted  string `json:"Deleted,omitempty"`
	Untagged string `json:"Untagged,omitempty"`
}

// ImagesPruneReport is the body of POST /images/prune.
type ImagesPruneReport struct {
	ImagesDeleted  []ImageDeleteResponseItem
	SpaceReclaimed uint64
}

// DiskUsage is the body of GET /system/df. Containers, volumes and the
// build cache come with later parts of xmgr; they are empty lists now.
type DiskUsage struct {
	LayersSize  int64
	Images      []*ImageSummary
	Containers  []any
	Volumes     []any
	BuildCache  []any
	BuilderSize int64 `json:",omitempty"`
}

// AuthConfig is a registry credential: the body of POST /auth and, base64
// (URL-safe) encoded JSON, the X-Registry-Auth header of pull and push.
type AuthConfig struct {
	Username      string `json:"username,omitempty"`
	Password      string `json:"password,omitempty"`
	Auth          string `json:"auth,omitempty"`
	Email         string `json:"email,omitempty"`
	ServerAddress string `json:"serveraddress,omitempty"`
	IdentityToken string `json:"identitytoken,omitempty"`
	RegistryToken string `json:"registrytoken,omitempty"`
}

// AuthenticateOKBody is the answer of a successful POST /auth.
type AuthenticateOKBody struct {
	IdentityToken string `json:"IdentityToken"`
	Status        string `json:"Status"`
}

// IDResponse carries the ID of something just created.
type IDResponse struct {
	ID string `json:"Id"`
}
