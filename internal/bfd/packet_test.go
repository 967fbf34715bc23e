package bfd

import (
	"encoding/hex"
	"errors"
	"testing"
	"time"
)

// A packet as BIRD 2 sends it in state Init: version 1, diag 0, state Init,
// detect mult 3, discriminators 0x11 and 0x22, intervals 1 s, 300 ms, 0.
const birdInit = "20" + "80" + "03" + "18" + "00000011" + "00000022" + "000f4240" + "000493e0" + "00000000"

func TestDecodeWireExample(t *testing.T) {
	b, _ := hex.DecodeString(birdInit)
	got, err := Decode(b)
	if err != nil {
		t.Fatal(err)
	}
	want := Packet{State: StateInit, DetectMult: 3, MyDiscriminator: 0x11, YourDiscriminator: 0x22,
		DesiredMinTx: time.Second, RequiredMinRx: 300 * time.Millisecond}
	if got != want {
		t.Fatalf("Decode = %+v, want %+v", got, want)
	}
	if enc := hex.EncodeToString(got.Encode()); enc != birdInit {
		t.Fatalf("Encode = %s, want %s", enc, birdInit)
	}
}

func TestDecodeFlags(t *testing.T) {
	p := Packet{Diag: DiagPathDown, State: StateUp, Poll: true, ControlPlaneIndependent: true, Demand: true,
		DetectMult: 1, MyDiscriminator: 1, YourDiscriminator: 2, RequiredMinEchoRx: 50 * time.Millisecond}
	b := p.Encode()
	if b[0] != 0x25 || b[1] != 0xc0|bitPoll|bitCPI|bitDemand {
		t.Fatalf("header bytes %x, want 25 ea", b[:2])
	}
	got, err := Decode(b)
	if err != nil || got != p {
		t.Fatalf("Decode(Encode(p)) = %+v, %v; want %+v", got, err, p)
	}
}

// Each row breaks one reception rule of RFC 5880 §6.8.6 that needs no session.
func TestDecodeRefuses(t *testing.T) {
	valid, _ := hex.DecodeString(birdInit)
	edit := func(f func(b []byte) []byte) []byte {
		return f(append([]byte(nil), valid...))
	}
	for _, tc := range []struct {
		name string
		in   []byte
		want error
	}{
		{"§6.8.6 shorter than 24 bytes", valid[:23], ErrShort},
		{"§6.8.6 version 0", edit(func(b []byte) []byte { b[0] = 0x00; return b }), ErrVersion},
		{"§6.8.6 version 2", edit(func(b []byte) []byte { b[0] = 0x40; return b }), ErrVersion},
		{"§6.8.6 length below 24", edit(func(b []byte) []byte { b[3] = 23; return b }), ErrLength},
		{"§6.8.6 length beyond payload", edit(func(b []byte) []byte { b[3] = 25; return b }), ErrLength},
		{"§6.8.6 A bit set, no authentication in use", edit(func(b []byte) []byte { b[1] |= bitAuth; return b }), ErrAuthentication},
		{"§6.8.6 detect mult zero", edit(func(b []byte) []byte { b[2] = 0; return b }), ErrDetectMult},
		{"§6.8.6 multipoint bit", edit(func(b []byte) []byte { b[1] |= bitMultipoint; return b }), ErrMultipoint},
		{"§6.8.6 my discriminator zero", edit(func(b []byte) []byte { copy(b[4:8], []byte{0, 0, 0, 0}); return b }), ErrMyDiscr},
		{"§6.8.6 your discriminator zero in Init", edit(func(b []byte) []byte { copy(b[8:12], []byte{0, 0, 0, 0}); return b }), ErrYourDiscr},
		{"§6.5 poll and final together", edit(func(b []byte) []byte { b[1] |= bitPoll | bitFinal; return b }), ErrPollFinal},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := Decode(tc.in); !errors.Is(err, tc.want) {
				t.Fatalf("Decode error = %v, want %v", err, tc.want)
			}
		})
	}
}

// §6.8.6: a zero Your Discriminator is valid in Down and AdminDown, and bytes
// beyond the Length field (a longer UDP payload) are ignored.
func TestDecodeAccepts(t *testing.T) {
	valid, _ := hex.DecodeString(birdInit)
	for _, st := range []byte{0x00, 0x40} {
		b := append([]byte(nil), valid...)
		b[1] = st
		copy(b[8:12], []byte{0, 0, 0, 0})
		b = append(b, 0xff, 0xff)
		if _, err := Decode(b); err != nil {
			t.Errorf("state byte %#x with your discriminator 0: %v", st, err)
		}
	}
}

func TestEncodeSaturates(t *testing.T) {
	p := Packet{DetectMult: 3, MyDiscriminator: 1, DesiredMinTx: 2 * time.Hour, RequiredMinRx: -time.Second}
	got, err := Decode(p.Encode())
	if err != nil {
		t.Fatal(err)
	}
	if got.DesiredMinTx != (1<<32-1)*time.Microsecond || got.RequiredMinRx != 0 {
		t.Fatalf("intervals = %v, %v; want the field's maximum and 0", got.DesiredMinTx, got.RequiredMinRx)
	}
}
