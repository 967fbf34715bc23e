package config

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"

	corev1 "k8s.io/api/core/v1"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/yaml"

	"github.com/ironlb/ironlb/internal/api/v1beta1"
)

// DecodeYAML reads a stream of YAML (or JSON) documents, as given to
// `kubectl apply -f`, and adds the metallb.io objects and Secrets it holds to
// res. Objects of other kinds are skipped and returned by kind/name so that a
// caller can mention them. Unknown fields are errors, as they are for the API
// server. source names the stream in errors.
func DecodeYAML(r io.Reader, source string, res *Resources) (skipped []string, err error) {
	reader := utilyaml.NewYAMLReader(bufio.NewReader(r))
	for doc := 1; ; doc++ {
		raw, err := reader.Read()
		if errors.Is(err, io.EOF) {
			return skipped, nil
		}
		if err != nil {
			return skipped, fmt.Errorf("%s: document %d: %v", source, doc, err)
		}
		more, err := decodeObject(raw, res)
		if err != nil {
			return skipped, fmt.Errorf("%s: document %d: %v", source, doc, err)
		}
		skipped = append(skipped, more...)
	}
}

type typeMeta struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	Metadata   struct {
		Name string `json:"name"`
	} `json:"metadata"`
}

// decodeObject decodes one document, which may be a List of objects.
func decodeObject(raw []byte, res *Resources) (skipped []string, err error) {
	var meta typeMeta
	if err := yaml.Unmarshal(raw, &meta); err != nil {
		return nil, err
	}
	if meta.APIVersion == "" && meta.Kind == "" {
		return nil, nil // an empty document
	}
	into := func(list any) error {
		if err := yaml.UnmarshalStrict(raw, list); err != nil {
			return fmt.Errorf("%s %s: %v", meta.Kind, meta.Metadata.Name, err)
		}
		return nil
	}
	for _, k := range Kinds {
		if meta.APIVersion == k.APIVersion() && meta.Kind == k.Name {
			obj := k.New()
			if err := into(obj); err != nil {
				return nil, err
			}
			return nil, k.Add(res, obj)
		}
	}
	switch meta.APIVersion + " " + meta.Kind {
	case "metallb.io/v1beta1 BGPPeer": // deprecated; served as v1beta2
		var old v1beta1.BGPPeer
		if err := into(&old); err != nil {
			return nil, err
		}
		peer, err := old.ToV1beta2()
		if err != nil {
			return nil, fmt.Errorf("%s %s: %v", meta.Kind, meta.Metadata.Name, err)
		}
		res.Peers = append(res.Peers, peer)
		return nil, nil
	case "v1 Secret":
		var secret corev1.Secret
		if err := into(&secret); err != nil {
			return nil, err
		}
		if res.Secrets == nil {
			res.Secrets = map[string]*corev1.Secret{}
		}
		for k, v := range secret.StringData { // as the API server does on write
			if secret.Data == nil {
				secret.Data = map[string][]byte{}
			}
			secret.Data[k] = []byte(v)
		}
		res.Secrets[secret.Namespace+"/"+secret.Name] = &secret
		return nil, nil
	case "v1 List":
		var list struct {
			Items []json.RawMessage `json:"items"`
		}
		if err := yaml.Unmarshal(raw, &list); err != nil {
			return nil, err
		}
		for _, item := range list.Items {
			more, err := decodeObject(item, res)
			if err != nil {
				return skipped, err
			}
			skipped = append(skipped, more...)
		}
		return skipped, nil
	}
	return []string{fmt.Sprintf("%s %s (%s)", meta.Kind, meta.Metadata.Name, meta.APIVersion)}, nil
}
