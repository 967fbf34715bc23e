package bfd

import (
	"encoding/hex"
	"testing"
)

// FuzzDecode checks that Decode never panics and that every packet it accepts
// survives a round trip: Decode(Encode(p)) == p.
func FuzzDecode(f *testing.F) {
	seed, _ := hex.DecodeString(birdInit)
	f.Add(seed)
	f.Add(Packet{State: StateDown, DetectMult: 3, MyDiscriminator: 7, Poll: true}.Encode())
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		p, err := Decode(b)
		if err != nil {
			return
		}
		again, err := Decode(p.Encode())
		if err != nil {
			t.Fatalf("Decode(Encode(%+v)): %v", p, err)
		}
		if again != p {
			t.Fatalf("round trip: %+v became %+v", p, again)
		}
	})
}
