// Package seamtest holds property tests across the seams between the
// configuration's judge (package config), the planner (package announce)
// and the shells (packages bgp and layer2): whatever config.Build accepts,
// the plan built from it must be accepted by the shells. It has no code of
// its own.
package seamtest
