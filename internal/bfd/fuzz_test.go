package bfd

import (
	"encoding/hex"
	"testing"
)

// FuzzDecode checks that Decode never panics, that every packet it accepts
// survives a round trip (Decode(Encode(p)) == p), and that a session given
// it answers only with packets that Decode accepts.
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
		s := NewSession(local, fast, func() float64 { return 0.5 }, t0)
		outs := []Output{s.Tick(t0), s.Receive(p, t0.Add(ms)), s.Tick(s.Deadline())}
		for _, out := range outs {
			for _, sent := range out.Send {
				if _, err := Decode(sent.Encode()); err != nil {
					t.Fatalf("after receiving %+v the session sent %+v, which Decode refuses: %v", p, sent, err)
				}
			}
		}
	})
}
