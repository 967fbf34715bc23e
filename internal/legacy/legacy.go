// Package legacy converts MetalLB's pre-CRD configuration (the "config"
// ConfigMap with address-pools, peers, bgp-communities and bfd-profiles) into
// the equivalent metallb.io objects, so that users of old MetalLB releases can
// move to ironlb without rewriting their configuration by hand.
package legacy

import (
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/yaml"

	"github.com/ironlb/ironlb/internal/api/v1beta1"
	"github.com/ironlb/ironlb/internal/api/v1beta2"
	"github.com/ironlb/ironlb/internal/config"
)

// legacyConfig is the document held in the ConfigMap's "config" key.
type legacyConfig struct {
	Peers          []legacyPeer       `json:"peers"`
	BGPCommunities map[string]string  `json:"bgp-communities"`
	Pools          []legacyPool       `json:"address-pools"`
	BFDProfiles    []legacyBFDProfile `json:"bfd-profiles"`
}

type legacyPeer struct {
	MyASN         uint32               `json:"my-asn"`
	ASN           uint32               `json:"peer-asn"`
	Addr          string               `json:"peer-address"`
	SrcAddr       string               `json:"source-address"`
	Port          uint16               `json:"peer-port"`
	HoldTime      string               `json:"hold-time"`
	KeepaliveTime string               `json:"keepalive-time"`
	RouterID      string               `json:"router-id"`
	NodeSelectors []legacyNodeSelector `json:"node-selectors"`
	Password      string               `json:"password"`
	BFDProfile    string               `json:"bfd-profile"`
	EBGPMultiHop  bool                 `json:"ebgp-multihop"`
}

type legacyNodeSelector struct {
	MatchLabels      map[string]string           `json:"match-labels"`
	MatchExpressions []legacySelectorRequirement `json:"match-expressions"`
}

type legacySelectorRequirement struct {
	Key      string   `json:"key"`
	Operator string   `json:"operator"`
	Values   []string `json:"values"`
}

type legacyPool struct {
	Name              string                   `json:"name"`
	Protocol          string                   `json:"protocol"`
	Addresses         []string                 `json:"addresses"`
	AvoidBuggyIPs     bool                     `json:"avoid-buggy-ips"`
	AutoAssign        *bool                    `json:"auto-assign"`
	BGPAdvertisements []legacyBGPAdvertisement `json:"bgp-advertisements"`
}

type legacyBGPAdvertisement struct {
	AggregationLength   *int32   `json:"aggregation-length"`
	AggregationLengthV6 *int32   `json:"aggregation-length-v6"`
	LocalPref           *uint32  `json:"localpref"`
	Communities         []string `json:"communities"`
}

type legacyBFDProfile struct {
	Name             string  `json:"name"`
	ReceiveInterval  *uint32 `json:"receive-interval"`
	TransmitInterval *uint32 `json:"transmit-interval"`
	DetectMultiplier *uint32 `json:"detect-multiplier"`
	EchoInterval     *uint32 `json:"echo-interval"`
	EchoMode         bool    `json:"echo-mode"`
	PassiveMode      bool    `json:"passive-mode"`
	MinimumTTL       *uint32 `json:"minimum-ttl"`
}

// Convert reads a legacy configuration — either a whole ConfigMap manifest or
// just the text of its "config" key — and returns the equivalent objects in
// namespace (the ConfigMap's namespace when it has one). The result is not
// validated: pass it to config.Build for that.
func Convert(input []byte, namespace string) (config.Resources, error) {
	text := input
	var cm corev1.ConfigMap
	if err := yaml.Unmarshal(input, &cm); err == nil && cm.Kind == "ConfigMap" {
		data, ok := cm.Data["config"]
		if !ok {
			return config.Resources{}, fmt.Errorf("ConfigMap %s/%s has no \"config\" key", cm.Namespace, cm.Name)
		}
		text = []byte(data)
		if cm.Namespace != "" {
			namespace = cm.Namespace
		}
	}
	var legacy legacyConfig
	if err := yaml.UnmarshalStrict(text, &legacy); err != nil {
		return config.Resources{}, fmt.Errorf("legacy MetalLB configuration: %v", err)
	}
	c := converter{namespace: namespace}
	return c.convert(&legacy)
}

type converter struct {
	namespace string
	res       config.Resources
}

func (c *converter) meta(name string) metav1.ObjectMeta {
	return metav1.ObjectMeta{Name: name, Namespace: c.namespace}
}

func (c *converter) convert(legacy *legacyConfig) (config.Resources, error) {
	if err := c.communities(legacy.BGPCommunities); err != nil {
		return config.Resources{}, err
	}
	for i, p := range legacy.Peers {
		if err := c.peer(i, p); err != nil {
			return config.Resources{}, err
		}
	}
	for i, p := range legacy.Pools {
		if err := c.pool(i, p); err != nil {
			return config.Resources{}, err
		}
	}
	for _, p := range legacy.BFDProfiles {
		c.res.BFDProfiles = append(c.res.BFDProfiles, v1beta1.BFDProfile{
			TypeMeta:   typeMeta(v1beta1.GroupVersion.String(), "BFDProfile"),
			ObjectMeta: c.meta(p.Name),
			Spec: v1beta1.BFDProfileSpec{
				ReceiveInterval:  p.ReceiveInterval,
				TransmitInterval: p.TransmitInterval,
				DetectMultiplier: p.DetectMultiplier,
				EchoInterval:     p.EchoInterval,
				EchoMode:         &p.EchoMode,
				PassiveMode:      &p.PassiveMode,
				MinimumTTL:       p.MinimumTTL,
			},
		})
	}
	return c.res, nil
}

func typeMeta(apiVersion, kind string) metav1.TypeMeta {
	return metav1.TypeMeta{APIVersion: apiVersion, Kind: kind}
}

// communities turns the bgp-communities map into one Community object whose
// aliases keep the legacy names, so advertisements can keep referring to them.
func (c *converter) communities(aliases map[string]string) error {
	if len(aliases) == 0 {
		return nil
	}
	names := make([]string, 0, len(aliases))
	for name := range aliases {
		names = append(names, name)
	}
	sort.Strings(names)
	obj := v1beta1.Community{
		TypeMeta:   typeMeta(v1beta1.GroupVersion.String(), "Community"),
		ObjectMeta: c.meta("communities"),
	}
	for _, name := range names {
		obj.Spec.Communities = append(obj.Spec.Communities, v1beta1.CommunityAlias{Name: name, Value: aliases[name]})
	}
	c.res.Communities = append(c.res.Communities, obj)
	return nil
}

func (c *converter) peer(index int, p legacyPeer) error {
	spec := v1beta2.BGPPeerSpec{
		MyASN:         p.MyASN,
		PeerASN:       p.ASN,
		PeerAddress:   p.Addr,
		SourceAddress: p.SrcAddr,
		PeerPort:      p.Port,
		RouterID:      p.RouterID,
		Password:      p.Password,
		BFDProfile:    p.BFDProfile,
		EBGPMultiHop:  p.EBGPMultiHop,
	}
	var err error
	if spec.HoldTime, err = duration(p.HoldTime); err != nil {
		return fmt.Errorf("peers[%d].hold-time: %v", index, err)
	}
	if spec.KeepaliveTime, err = duration(p.KeepaliveTime); err != nil {
		return fmt.Errorf("peers[%d].keepalive-time: %v", index, err)
	}
	for _, sel := range p.NodeSelectors {
		out := metav1.LabelSelector{MatchLabels: sel.MatchLabels}
		for _, req := range sel.MatchExpressions {
			out.MatchExpressions = append(out.MatchExpressions, metav1.LabelSelectorRequirement{
				Key:      req.Key,
				Operator: metav1.LabelSelectorOperator(normalizeOperator(req.Operator)),
				Values:   req.Values,
			})
		}
		spec.NodeSelectors = append(spec.NodeSelectors, out)
	}
	c.res.Peers = append(c.res.Peers, v1beta2.BGPPeer{
		TypeMeta:   typeMeta(v1beta2.GroupVersion.String(), "BGPPeer"),
		ObjectMeta: c.meta(fmt.Sprintf("peer%d", index+1)),
		Spec:       spec,
	})
	return nil
}

// normalizeOperator accepts the legacy format's lower-case operators ("in",
// "notin", …) as well as the Kubernetes spelling.
func normalizeOperator(op string) string {
	switch strings.ToLower(op) {
	case "in":
		return string(metav1.LabelSelectorOpIn)
	case "notin":
		return string(metav1.LabelSelectorOpNotIn)
	case "exists":
		return string(metav1.LabelSelectorOpExists)
	case "doesnotexist":
		return string(metav1.LabelSelectorOpDoesNotExist)
	}
	return op
}

func duration(s string) (*metav1.Duration, error) {
	if s == "" {
		return nil, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		return nil, err
	}
	return &metav1.Duration{Duration: d}, nil
}

func (c *converter) pool(index int, p legacyPool) error {
	if p.Name == "" {
		return fmt.Errorf("address-pools[%d]: name is required", index)
	}
	c.res.Pools = append(c.res.Pools, v1beta1.IPAddressPool{
		TypeMeta:   typeMeta(v1beta1.GroupVersion.String(), "IPAddressPool"),
		ObjectMeta: c.meta(p.Name),
		Spec: v1beta1.IPAddressPoolSpec{
			Addresses:     p.Addresses,
			AutoAssign:    p.AutoAssign,
			AvoidBuggyIPs: p.AvoidBuggyIPs,
		},
	})
	switch p.Protocol {
	case "layer2":
		c.res.L2Advertisements = append(c.res.L2Advertisements, v1beta1.L2Advertisement{
			TypeMeta:   typeMeta(v1beta1.GroupVersion.String(), "L2Advertisement"),
			ObjectMeta: c.meta("l2adv-" + p.Name),
			Spec:       v1beta1.L2AdvertisementSpec{IPAddressPools: []string{p.Name}},
		})
	case "bgp":
		advs := p.BGPAdvertisements
		if len(advs) == 0 {
			advs = []legacyBGPAdvertisement{{}} // the legacy default: one route per address
		}
		for i, adv := range advs {
			spec := v1beta1.BGPAdvertisementSpec{
				IPAddressPools:      []string{p.Name},
				AggregationLength:   adv.AggregationLength,
				AggregationLengthV6: adv.AggregationLengthV6,
				Communities:         adv.Communities,
			}
			if adv.LocalPref != nil {
				spec.LocalPref = *adv.LocalPref
			}
			c.res.BGPAdvertisements = append(c.res.BGPAdvertisements, v1beta1.BGPAdvertisement{
				TypeMeta:   typeMeta(v1beta1.GroupVersion.String(), "BGPAdvertisement"),
				ObjectMeta: c.meta(fmt.Sprintf("bgpadv-%d-%s", i+1, p.Name)),
				Spec:       spec,
			})
		}
	default:
		return fmt.Errorf("address-pools[%d] (%s): protocol %q: want layer2 or bgp", index, p.Name, p.Protocol)
	}
	return nil
}

// MarshalYAML renders resources as a multi-document YAML stream in a stable
// order: kind by kind in config.Kinds' order (communities, BFD profiles,
// peers, pools, advertisements), each object after those it refers to.
func MarshalYAML(res config.Resources) ([]byte, error) {
	var objects []any
	for _, k := range config.Kinds {
		for _, obj := range k.Objects(&res) {
			objects = append(objects, obj)
		}
	}
	var out []byte
	for i, obj := range objects {
		doc, err := marshalClean(obj)
		if err != nil {
			return nil, err
		}
		if i > 0 {
			out = append(out, "---\n"...)
		}
		out = append(out, doc...)
	}
	return out, nil
}

// marshalClean renders obj as YAML without the empty status and the null
// creationTimestamp that typed objects always carry.
func marshalClean(obj any) ([]byte, error) {
	data, err := json.Marshal(obj)
	if err != nil {
		return nil, err
	}
	var fields map[string]any
	if err := json.Unmarshal(data, &fields); err != nil {
		return nil, err
	}
	delete(fields, "status")
	if meta, ok := fields["metadata"].(map[string]any); ok {
		delete(meta, "creationTimestamp")
	}
	if spec, ok := fields["spec"].(map[string]any); ok {
		for key, value := range spec {
			if m, isMap := value.(map[string]any); isMap && len(m) == 0 {
				delete(spec, key) // e.g. an unset passwordSecret
			}
		}
	}
	return yaml.Marshal(fields)
}
