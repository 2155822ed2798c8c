// Package registry is stella-oras's only door to OCI storage: registries
// (oras-go remote repositories with docker credentials), OCI image layout
// directories and OCI layout tar archives. It pushes, pulls and lists
// referrers by digest and knows nothing of verdict semantics.
package registry
