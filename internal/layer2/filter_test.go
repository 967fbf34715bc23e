package layer2

import (
	"testing"

	"golang.org/x/net/bpf"
)

// TestFiltersJumpToDrop: every check of both filters jumps to the final
// "drop" instruction, and the filters assemble. (The kernel runs them; the
// namespace tests show what they pass.)
func TestFiltersJumpToDrop(t *testing.T) {
	for name, prog := range map[string][]bpf.Instruction{"arp": arpFilter(7), "ndp": ndpFilter(7)} {
		drop := len(prog) - 1
		if prog[drop] != (bpf.RetConstant{Val: 0}) || prog[drop-1] != (bpf.RetConstant{Val: 0xffff}) {
			t.Fatalf("%s: does not end with accept, drop: %v", name, prog[drop-1:])
		}
		for i, ins := range prog {
			if j, ok := ins.(bpf.JumpIf); ok && i+1+int(j.SkipTrue) != drop {
				t.Errorf("%s: instruction %d (%v) jumps to %d, want drop at %d", name, i, j, i+1+int(j.SkipTrue), drop)
			}
		}
		if prog[3] != (bpf.JumpIf{Cond: bpf.JumpNotEqual, Val: 7, SkipTrue: uint8(drop - 4)}) {
			t.Errorf("%s: interface index check = %v", name, prog[3])
		}
		if _, err := bpf.Assemble(prog); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
}
