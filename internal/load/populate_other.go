//go:build unix && !linux

package load

const mapPopulate = 0
