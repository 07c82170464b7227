package types

// BuildOptions are POST /build's parameters (Docker's query names in
// comments). The server and the client share them; the server's
// BuildBackend receives them parsed.
type BuildOptions struct {
	Tags       []string // t, repeated
	Dockerfile string   // dockerfile ("" = Dockerfile)
	// BuildArgs is buildargs (a JSON object). A nil value means the ARG's
	// default, as Docker: the CLI sends `--build-arg KEY` with the value
	// from its own environment, or drops it when unset there.
	BuildArgs   map[string]*string
	Target      string            // target
	NoCache     bool              // nocache
	Pull        bool              // pull
	Quiet       bool              // q
	Remove      bool              // rm (default true)
	ForceRemove bool              // forcerm
	Labels      map[string]string // labels (JSON object)
	NetworkMode string            // networkmode ("" / "default" = bridge)
	Platform    string            // platform
	CacheFrom   []string          // cachefrom (JSON list)

	// The resources and hosts of every RUN container (HostConfig's
	// fields of the same names); they do not change the cache keys.
	Memory       int64     // memory (bytes)
	MemorySwap   int64     // memswap (bytes, memory plus swap; -1 = unlimited)
	CPUShares    int64     // cpushares
	CPUPeriod    int64     // cpuperiod (µs)
	CPUQuota     int64     // cpuquota (µs)
	CpusetCpus   string    // cpusetcpus
	CpusetMems   string    // cpusetmems
	CgroupParent string    // cgroupparent
	ShmSize      int64     // shmsize (bytes; 0 = the daemon's default)
	Ulimits      []*Ulimit // ulimits (JSON list of {Name,Hard,Soft})
	ExtraHosts   []string  // extrahosts, repeated ("host:ip")
}

// BuildCachePruneReport is the body of POST /build/prune.
type BuildCachePruneReport struct {
	CachesDeleted  []string
	SpaceReclaimed uint64
}

// BuildResult is the aux payload of a build stream: the image's ID.
type BuildResult struct {
	ID string
}
