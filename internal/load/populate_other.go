//go:build unix && !linux

package load

func adviseHuge([]byte) {}
