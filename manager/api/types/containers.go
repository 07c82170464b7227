package types

import "time"

// Event types for containers, networks and volumes on GET /events.
const (
	ContainerEventType = "container"
	NetworkEventType   = "network"
	VolumeEventType    = "volume"
)

// Container states as Docker reports them (State.Status, ps's State).
const (
	StateCreated    = "created"
	StateRunning    = "running"
	StatePaused     = "paused"
	StateRestarting = "restarting"
	StateRemoving   = "removing"
	StateExited     = "exited"
	StateDead       = "dead"
)

// Health states.
const (
	HealthNone     = "none"
	HealthStarting = "starting"
	Healthy        = "healthy"
	Unhealthy      = "unhealthy"
	HealthCmdNone  = "NONE"
	HealthCmd      = "CMD"
	HealthCmdShell = "CMD-SHELL"
)

// PortBinding is one host side of a published port.
type PortBinding struct {
	HostIP   string `json:"HostIp"`
	HostPort string
}

// PortMap maps "80/tcp" to its host bindings.
type PortMap map[string][]PortBinding

// PortSet is a set of "80/tcp" ports.
type PortSet map[string]struct{}

// RestartPolicy is --restart: Name is "", "no", "always",
// "unless-stopped" or "on-failure".
type RestartPolicy struct {
	Name              string
	MaximumRetryCount int
}

// LogConfig names the log driver; xmgr has json-file only.
type LogConfig struct {
	Type   string
	Config map[string]string
}

// Ulimit is one --ulimit.
type Ulimit struct {
	Name string
	Hard int64
	Soft int64
}

// DeviceMapping is one --device.
type DeviceMapping struct {
	PathOnHost        string
	PathInContainer   string
	CgroupPermissions string
}

// Resources are the container's cgroup limits (create and update).
type Resources struct {
	CPUShares            int64 `json:"CpuShares"`
	Memory               int64
	NanoCPUs             int64 `json:"NanoCpus"`
	CgroupParent         string
	BlkioWeight          uint16
	BlkioWeightDevice    []any
	BlkioDeviceReadBps   []any
	BlkioDeviceWriteBps  []any
	BlkioDeviceReadIOps  []any
	BlkioDeviceWriteIOps []any
	CPUPeriod            int64 `json:"CpuPeriod"`
	CPUQuota             int64 `json:"CpuQuota"`
	CPURealtimePeriod    int64 `json:"CpuRealtimePeriod"`
	CPURealtimeRuntime   int64 `json:"CpuRealtimeRuntime"`
	CpusetCpus           string
	CpusetMems           string
	Devices              []DeviceMapping
	DeviceCgroupRules    []string
	KernelMemory         int64 `json:",omitempty"`
	KernelMemoryTCP      int64 `json:",omitempty"`
	MemoryReservation    int64
	MemorySwap           int64
	MemorySwappiness     *int64
	OomKillDisable       *bool
	PidsLimit            *int64
	Ulimits              []*Ulimit
	CPUCount             int64 `json:"CpuCount"`
	CPUPercent           int64 `json:"CpuPercent"`
	IOMaximumIOps        uint64
	IOMaximumBandwidth   uint64
}

// Mount is one --mount (and HostConfig.Mounts).
type Mount struct {
	Type          string         `json:",omitempty"` // bind, volume, tmpfs
	Source        string         `json:",omitempty"`
	Target        string         `json:",omitempty"`
	ReadOnly      bool           `json:",omitempty"`
	Consistency   string         `json:",omitempty"`
	BindOptions   *BindOptions   `json:",omitempty"`
	VolumeOptions *VolumeOptions `json:",omitempty"`
	TmpfsOptions  *TmpfsOptions  `json:",omitempty"`
}

// BindOptions are a bind mount's options.
type BindOptions struct {
	Propagation  string `json:",omitempty"`
	NonRecursive bool   `json:",omitempty"`
}

// VolumeOptions are a volume mount's options.
type VolumeOptions struct {
	NoCopy       bool              `json:",omitempty"`
	Labels       map[string]string `json:",omitempty"`
	DriverConfig *Driver           `json:",omitempty"`
}

// Driver names a volume driver and its options.
type Driver struct {
	Name    string            `json:",omitempty"`
	Options map[string]string `json:",omitempty"`
}

// TmpfsOptions are a tmpfs mount's options.
type TmpfsOptions struct {
	SizeBytes int64  `json:",omitempty"`
	Mode      uint32 `json:",omitempty"` // os.FileMode bits
}

// HostConfig is Docker's container.HostConfig: the non-portable part of
// a container's configuration.
type HostConfig struct {
	Binds           []string
	ContainerIDFile string
	LogConfig       LogConfig
	NetworkMode     string
	PortBindings    PortMap
	RestartPolicy   RestartPolicy
	AutoRemove      bool
	VolumeDriver    string
	VolumesFrom     []string
	CapAdd          []string
	CapDrop         []string
	CgroupnsMode    string
	DNS             []string `json:"Dns"`
	DNSOptions      []string `json:"DnsOptions"`
	DNSSearch       []string `json:"DnsSearch"`
	ExtraHosts      []string
	GroupAdd        []string
	IpcMode         string
	Cgroup          string
	Links           []string
	OomScoreAdj     int
	PidMode         string
	Privileged      bool
	PublishAllPorts bool
	ReadonlyRootfs  bool
	SecurityOpt     []string
	StorageOpt      map[string]string `json:",omitempty"`
	Tmpfs           map[string]string `json:",omitempty"`
	UTSMode         string
	UsernsMode      string
	ShmSize         int64
	Sysctls         map[string]string `json:",omitempty"`
	Runtime         string            `json:",omitempty"`
	ConsoleSize     [2]uint
	Isolation       string
	Resources
	Mounts        []Mount  `json:",omitempty"`
	MaskedPaths   []string `json:",omitempty"`
	ReadonlyPaths []string `json:",omitempty"`
	Init          *bool    `json:",omitempty"`
}

// EndpointIPAMConfig is a container's requested address on a network.
type EndpointIPAMConfig struct {
	IPv4Address  string   `json:",omitempty"`
	IPv6Address  string   `json:",omitempty"`
	LinkLocalIPs []string `json:",omitempty"`
}

// EndpointSettings is a container's endpoint on one network.
type EndpointSettings struct {
	IPAMConfig          *EndpointIPAMConfig
	Links               []string
	Aliases             []string
	NetworkID           string
	EndpointID          string
	Gateway             string
	IPAddress           string
	IPPrefixLen         int
	IPv6Gateway         string
	GlobalIPv6Address   string
	GlobalIPv6PrefixLen int
	MacAddress          string
	DriverOpts          map[string]string
}

// NetworkingConfig is the networks a new container joins.
type NetworkingConfig struct {
	EndpointsConfig map[string]*EndpointSettings
}

// ContainerCreateRequest is the body of POST /containers/create: the
// Config's fields at the top level, beside HostConfig and
// NetworkingConfig.
type ContainerCreateRequest struct {
	ContainerConfig
	HostConfig       *HostConfig       `json:",omitempty"`
	NetworkingConfig *NetworkingConfig `json:",omitempty"`
}

// ContainerCreateResponse is the answer of POST /containers/create.
type ContainerCreateResponse struct {
	ID       string `json:"Id"`
	Warnings []string
}

// Port is a published or exposed port in a container list.
type Port struct {
	IP          string `json:",omitempty"`
	PrivatePort uint16
	PublicPort  uint16 `json:",omitempty"`
	Type        string
}

// MountPoint is a mount as inspect and ps show it.
type MountPoint struct {
	Type        string `json:",omitempty"`
	Name        string `json:",omitempty"`
	Source      string
	Destination string
	Driver      string `json:",omitempty"`
	Mode        string
	RW          bool
	Propagation string
}

// SummaryNetworkSettings is the network part of a container list entry.
type SummaryNetworkSettings struct {
	Networks map[string]*EndpointSettings
}

// ContainerSummary is one entry of GET /containers/json.
type ContainerSummary struct {
	ID         string `json:"Id"`
	Names      []string
	Image      string
	ImageID    string
	Command    string
	Created    int64
	Ports      []Port
	SizeRw     int64 `json:",omitempty"`
	SizeRootFs int64 `json:",omitempty"`
	Labels     map[string]string
	State      string
	Status     string
	HostConfig struct {
		NetworkMode string `json:",omitempty"`
	}
	NetworkSettings *SummaryNetworkSettings
	Mounts          []MountPoint
}

// HealthcheckResult is one probe's outcome.
type HealthcheckResult struct {
	Start    time.Time
	End      time.Time
	ExitCode int
	Output   string
}

// Health is a container's health state.
type Health struct {
	Status        string
	FailingStreak int
	Log           []*HealthcheckResult
}

// ContainerState is State in a container's inspect.
type ContainerState struct {
	Status     string
	Running    bool
	Paused     bool
	Restarting bool
	OOMKilled  bool
	Dead       bool
	Pid        int
	ExitCode   int
	Error      string
	StartedAt  string
	FinishedAt string
	Health     *Health `json:",omitempty"`
}

// NetworkSettings is NetworkSettings in a container's inspect.
type NetworkSettings struct {
	Bridge                 string
	SandboxID              string
	HairpinMode            bool
	LinkLocalIPv6Address   string
	LinkLocalIPv6PrefixLen int
	Ports                  PortMap
	SandboxKey             string
	SecondaryIPAddresses   []any
	SecondaryIPv6Addresses []any
	EndpointID             string
	Gateway                string
	GlobalIPv6Address      string
	GlobalIPv6PrefixLen    int
	IPAddress              string
	IPPrefixLen            int
	IPv6Gateway            string
	MacAddress             string
	Networks               map[string]*EndpointSettings
}

// ContainerJSON is the body of GET /containers/{id}/json.
type ContainerJSON struct {
	ID              string `json:"Id"`
	Created         string
	Path            string
	Args            []string
	State           *ContainerState
	Image           string
	ResolvConfPath  string
	HostnamePath    string
	HostsPath       string
	LogPath         string
	Name            string
	RestartCount    int
	Driver          string
	Platform        string
	MountLabel      string
	ProcessLabel    string
	AppArmorProfile string
	ExecIDs         []string
	HostConfig      *HostConfig
	GraphDriver     GraphDriverData
	SizeRw          *int64 `json:",omitempty"`
	SizeRootFs      *int64 `json:",omitempty"`
	Mounts          []MountPoint
	Config          *ContainerConfig
	NetworkSettings *NetworkSettings
}

// ContainerWaitResponse is the answer of POST /containers/{id}/wait.
type ContainerWaitResponse struct {
	StatusCode int64
	Error      *ContainerWaitError `json:",omitempty"`
}

// ContainerWaitError says why waiting failed.
type ContainerWaitError struct {
	Message string `json:",omitempty"`
}

// ContainerUpdateRequest is the body of POST /containers/{id}/update.
type ContainerUpdateRequest struct {
	Resources
	RestartPolicy RestartPolicy
}

// ContainerUpdateResponse is its answer.
type ContainerUpdateResponse struct {
	Warnings []string
}

// ContainerTopResponse is the answer of GET /containers/{id}/top.
type ContainerTopResponse struct {
	Processes [][]string
	Titles    []string
}

// Change kinds of GET /containers/{id}/changes.
const (
	ChangeModify = 0
	ChangeAdd    = 1
	ChangeDelete = 2
)

// ContainerChange is one entry of GET /containers/{id}/changes.
type ContainerChange struct {
	Kind uint8
	Path string
}

// ContainersPruneReport is the answer of POST /containers/prune.
type ContainersPruneReport struct {
	ContainersDeleted []string
	SpaceReclaimed    uint64
}

// ContainerPathStat is the X-Docker-Container-Path-Stat header (base64
// JSON) of the archive endpoints.
type ContainerPathStat struct {
	Name       string    `json:"name"`
	Size       int64     `json:"size"`
	Mode       uint32    `json:"mode"` // os.FileMode
	Mtime      time.Time `json:"mtime"`
	LinkTarget string    `json:"linkTarget"`
}

// ExecConfig is the body of POST /containers/{id}/exec.
type ExecConfig struct {
	User         string
	Privileged   bool
	Tty          bool
	ConsoleSize  *[2]uint `json:",omitempty"`
	AttachStdin  bool
	AttachStderr bool
	AttachStdout bool
	Detach       bool
	DetachKeys   string
	Env          []string
	WorkingDir   string
	Cmd          []string
}

// ExecStartRequest is the body of POST /exec/{id}/start.
type ExecStartRequest struct {
	Detach      bool
	Tty         bool
	ConsoleSize *[2]uint `json:",omitempty"`
}

// ExecProcessConfig is ProcessConfig of an exec's inspect.
type ExecProcessConfig struct {
	Tty        bool     `json:"tty"`
	Entrypoint string   `json:"entrypoint"`
	Arguments  []string `json:"arguments"`
	Privileged *bool    `json:"privileged,omitempty"`
	User       string   `json:"user,omitempty"`
}

// ExecInspect is the answer of GET /exec/{id}/json.
type ExecInspect struct {
	ID            string `json:"ID"`
	Running       bool
	ExitCode      *int
	ProcessConfig *ExecProcessConfig
	OpenStdin     bool
	OpenStderr    bool
	OpenStdout    bool
	CanRemove     bool
	ContainerID   string
	DetachKeys    string
	Pid           int
}

// CPUUsage, CPUStats, MemoryStats... are GET /containers/{id}/stats, in
// the cgroup v1 shape Docker's CLI computes percentages from.
type CPUUsage struct {
	TotalUsage        uint64   `json:"total_usage"`
	PercpuUsage       []uint64 `json:"percpu_usage,omitempty"`
	UsageInKernelmode uint64   `json:"usage_in_kernelmode"`
	UsageInUsermode   uint64   `json:"usage_in_usermode"`
}

// ThrottlingData is a cgroup's cpu throttling.
type ThrottlingData struct {
	Periods          uint64 `json:"periods"`
	ThrottledPeriods uint64 `json:"throttled_periods"`
	ThrottledTime    uint64 `json:"throttled_time"`
}

// CPUStats is a cgroup's cpu usage and the host's.
type CPUStats struct {
	CPUUsage       CPUUsage       `json:"cpu_usage"`
	SystemUsage    uint64         `json:"system_cpu_usage,omitempty"`
	OnlineCPUs     uint32         `json:"online_cpus,omitempty"`
	ThrottlingData ThrottlingData `json:"throttling_data,omitempty"`
}

// MemoryStats is a cgroup's memory use.
type MemoryStats struct {
	Usage    uint64            `json:"usage,omitempty"`
	MaxUsage uint64            `json:"max_usage,omitempty"`
	Stats    map[string]uint64 `json:"stats,omitempty"`
	Failcnt  uint64            `json:"failcnt,omitempty"`
	Limit    uint64            `json:"limit,omitempty"`
}

// PidsStats is a cgroup's process count.
type PidsStats struct {
	Current uint64 `json:"current,omitempty"`
	Limit   uint64 `json:"limit,omitempty"`
}

// BlkioStatEntry is one device's io counter.
type BlkioStatEntry struct {
	Major uint64 `json:"major"`
	Minor uint64 `json:"minor"`
	Op    string `json:"op"`
	Value uint64 `json:"value"`
}

// BlkioStats are a cgroup's io counters.
type BlkioStats struct {
	IoServiceBytesRecursive []BlkioStatEntry `json:"io_service_bytes_recursive"`
	IoServicedRecursive     []BlkioStatEntry `json:"io_serviced_recursive"`
}

// NetworkStats are one interface's counters.
type NetworkStats struct {
	RxBytes   uint64 `json:"rx_bytes"`
	RxPackets uint64 `json:"rx_packets"`
	RxErrors  uint64 `json:"rx_errors"`
	RxDropped uint64 `json:"rx_dropped"`
	TxBytes   uint64 `json:"tx_bytes"`
	TxPackets uint64 `json:"tx_packets"`
	TxErrors  uint64 `json:"tx_errors"`
	TxDropped uint64 `json:"tx_dropped"`
}

// StatsJSON is one sample of GET /containers/{id}/stats.
type StatsJSON struct {
	Read        time.Time               `json:"read"`
	PreRead     time.Time               `json:"preread"`
	PidsStats   PidsStats               `json:"pids_stats,omitempty"`
	BlkioStats  BlkioStats              `json:"blkio_stats,omitempty"`
	NumProcs    uint32                  `json:"num_procs"`
	CPUStats    CPUStats                `json:"cpu_stats,omitempty"`
	PreCPUStats CPUStats                `json:"precpu_stats,omitempty"`
	MemoryStats MemoryStats             `json:"memory_stats,omitempty"`
	Name        string                  `json:"name,omitempty"`
	ID          string                  `json:"id,omitempty"`
	Networks    map[string]NetworkStats `json:"networks,omitempty"`
}

// IPAMConfig is one subnet of a network.
type IPAMConfig struct {
	Subnet     string            `json:",omitempty"`
	IPRange    string            `json:",omitempty"`
	Gateway    string            `json:",omitempty"`
	AuxAddress map[string]string `json:"AuxiliaryAddresses,omitempty"`
}

// IPAM is a network's address management.
type IPAM struct {
	Driver  string
	Options map[string]string
	Config  []IPAMConfig
}

// EndpointResource is a container on a network, in the network's inspect.
type EndpointResource struct {
	Name        string
	EndpointID  string
	MacAddress  string
	IPv4Address string
	IPv6Address string
}

// NetworkResource is a network as GET /networks lists it.
type NetworkResource struct {
	Name       string
	ID         string `json:"Id"`
	Created    time.Time
	Scope      string
	Driver     string
	EnableIPv6 bool
	IPAM       IPAM
	Internal   bool
	Attachable bool
	Ingress    bool
	ConfigFrom struct{ Network string }
	ConfigOnly bool
	Containers map[string]EndpointResource
	Options    map[string]string
	Labels     map[string]string
}

// NetworkCreateRequest is the body of POST /networks/create.
type NetworkCreateRequest struct {
	Name           string
	CheckDuplicate bool
	Driver         string
	Scope          string
	EnableIPv6     bool
	IPAM           *IPAM
	Internal       bool
	Attachable     bool
	Ingress        bool
	ConfigOnly     bool
	Options        map[string]string
	Labels         map[string]string
}

// NetworkCreateResponse is its answer.
type NetworkCreateResponse struct {
	ID      string `json:"Id"`
	Warning string
}

// NetworkConnectRequest is the body of POST /networks/{id}/connect.
type NetworkConnectRequest struct {
	Container      string
	EndpointConfig *EndpointSettings `json:",omitempty"`
}

// NetworkDisconnectRequest is the body of POST /networks/{id}/disconnect.
type NetworkDisconnectRequest struct {
	Container string
	Force     bool
}

// NetworksPruneReport is the answer of POST /networks/prune.
type NetworksPruneReport struct {
	NetworksDeleted []string
}

// VolumeUsageData is a volume's size and users (system df, -s).
type VolumeUsageData struct {
	RefCount int64
	Size     int64
}

// Volume is a volume as the volume endpoints show it.
type Volume struct {
	CreatedAt  string `json:",omitempty"`
	Driver     string
	Labels     map[string]string
	Mountpoint string
	Name       string
	Options    map[string]string
	Scope      string
	Status     map[string]any   `json:",omitempty"`
	UsageData  *VolumeUsageData `json:",omitempty"`
}

// VolumeCreateRequest is the body of POST /volumes/create.
type VolumeCreateRequest struct {
	Driver     string
	DriverOpts map[string]string
	Labels     map[string]string
	Name       string
}

// VolumeListResponse is the answer of GET /volumes.
type VolumeListResponse struct {
	Volumes  []*Volume
	Warnings []string
}

// VolumesPruneReport is the answer of POST /volumes/prune.
type VolumesPruneReport struct {
	VolumesDeleted []string
	SpaceReclaimed uint64
}
