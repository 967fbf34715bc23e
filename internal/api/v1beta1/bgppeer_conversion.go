package v1beta1

import (
	"encoding/json"

	"github.com/ironlb/ironlb/internal/api/v1beta2"
)

// ToV1beta2 converts the peer as the API server does with the CRD's
// conversion strategy None: the same JSON read as v1beta2, with the
// apiVersion changed. `controller validate` uses it for v1beta1 YAML.
func (p *BGPPeer) ToV1beta2() (v1beta2.BGPPeer, error) {
	var out v1beta2.BGPPeer
	data, err := json.Marshal(p)
	if err != nil {
		return out, err
	}
	if err := json.Unmarshal(data, &out); err != nil {
		return out, err
	}
	out.APIVersion = v1beta2.GroupVersion.String()
	return out, nil
}
