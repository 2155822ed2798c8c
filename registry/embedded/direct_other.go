//go:build !linux

package embedded

// oDirect is 0 where the single POST's writes go through the page cache
// (O_DIRECT is Linux's; macOS has F_NOCACHE, Windows unbuffered handles,
// neither used here).
const oDirect = 0
