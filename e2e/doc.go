// Package e2e runs the built stella-oras binary, as users do: under
// different schedulers, time zones and locales, on shuffled inputs, and
// built for other platforms (386, arm64 under qemu-user, Windows under
// Wine) and with the race detector, checking that every run writes the
// same verdict bytes.
package e2e
