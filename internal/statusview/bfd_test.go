package statusview

import (
	"bytes"
	"reflect"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/ironlb/ironlb/internal/api/v1beta1"
	"github.com/ironlb/ironlb/internal/configstate"
)

// Each speaker's BFD sessions, from its ConfigurationState's BFDSessionsUp
// condition, are listed by node below the Services.
func TestBFDSessionsByNode(t *testing.T) {
	at := time.Date(2026, 12, 6, 0, 0, 0, 0, time.UTC)
	state := func(name, node string, lines ...string) v1beta1.ConfigurationState {
		st := v1beta1.ConfigurationState{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{configstate.LabelNode: node}}}
		st.Status = configstate.Status(st.Status, nil, true, at)
		if c, ok := configstate.BFDCondition(configstate.BFDReport{Lines: lines}, at); ok {
			st.Status.Conditions = append(st.Status.Conditions, c)
		}
		return st
	}
	view := Build(Input{States: []v1beta1.ConfigurationState{
		state("speaker-node2", "node2", "router-v4 172.30.0.254: Down (control detection time expired)"),
		state("controller", ""),
		state("speaker-node1", "node1", "router-v4 172.30.0.254: Up, transmit 100ms, detection 300ms", "tor 10.0.0.1: Init"),
		state("speaker-node3", "node3"), // no BFD session
	}})
	want := []BFDSession{
		{Node: "node1", Session: "router-v4 172.30.0.254: Up, transmit 100ms, detection 300ms"},
		{Node: "node1", Session: "tor 10.0.0.1: Init"},
		{Node: "node2", Session: "router-v4 172.30.0.254: Down (control detection time expired)"},
	}
	if !reflect.DeepEqual(view.BFD, want) {
		t.Fatalf("BFD sessions =\n%q\nwant\n%q", view.BFD, want)
	}
	var buf bytes.Buffer
	if err := Render(&buf, View{BFD: want}); err != nil {
		t.Fatal(err)
	}
	wantText := `SERVICE  IP  POOL  PROTOCOL  ANNOUNCED BY  PROBLEM  NOT ELIGIBLE

NODE   BFD SESSION
node1  router-v4 172.30.0.254: Up, transmit 100ms, detection 300ms
node1  tor 10.0.0.1: Init
node2  router-v4 172.30.0.254: Down (control detection time expired)
`
	if buf.String() != wantText {
		t.Errorf("got\n%s\nwant\n%s", buf.String(), wantText)
	}
}
