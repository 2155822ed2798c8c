package load

import "syscall"

const mapPopulate = syscall.MAP_POPULATE
