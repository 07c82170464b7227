package cgroups

import rspec "github.com/opencontainers/runtime-spec/specs-go"

// withoutUnset returns r with the zero values that mean "not set" taken
// out, so that nothing is validated or written for them. runc reads these
// fields into plain integers where 0 is "leave alone", and orchestrators
// rely on it: Docker sends `"cpu": {"shares": 0}` and `"blockIO":
// {"weight": 0}` for every container without such limits, and `docker
// update` sends period and realtime values of 0. r itself is not changed.
func withoutUnset(r *rspec.LinuxResources) *rspec.LinuxResources {
	if r == nil {
		return nil
	}
	zeroU64 := func(p *uint64) bool { return p != nil && *p == 0 }
	zeroI64 := func(p *int64) bool { return p != nil && *p == 0 }
	zeroU16 := func(p *uint16) bool { return p != nil && *p == 0 }
	out := *r
	if c := r.CPU; c != nil && (zeroU64(c.Shares) || zeroU64(c.Period) || zeroI64(c.Quota) ||
		zeroU64(c.RealtimePeriod) || zeroI64(c.RealtimeRuntime)) {
		cpu := *c
		for _, p := range []**uint64{&cpu.Shares, &cpu.Period, &cpu.RealtimePeriod} {
			if zeroU64(*p) {
				*p = nil
			}
		}
		for _, p := range []**int64{&cpu.Quota, &cpu.RealtimeRuntime} {
			if zeroI64(*p) {
				*p = nil
			}
		}
		out.CPU = &cpu
		if cpu == (rspec.LinuxCPU{}) {
			out.CPU = nil // nothing left to write: no cpu controller needed
		}
	}
	if b := r.BlockIO; b != nil && (zeroU16(b.Weight) || zeroU16(b.LeafWeight)) {
		blkio := *b
		if zeroU16(blkio.Weight) {
			blkio.Weight = nil
		}
		if zeroU16(blkio.LeafWeight) {
			blkio.LeafWeight = nil
		}
		out.BlockIO = &blkio
		if blkio.Weight == nil && blkio.LeafWeight == nil && len(blkio.WeightDevice) == 0 &&
			len(blkio.ThrottleReadBpsDevice)+len(blkio.ThrottleWriteBpsDevice)+
				len(blkio.ThrottleReadIOPSDevice)+len(blkio.ThrottleWriteIOPSDevice) == 0 {
			out.BlockIO = nil
		}
	}
	return &out
}
