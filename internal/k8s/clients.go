// Package k8s is the Kubernetes shell shared by the controller and the
// speakers: API clients, typed informers for the metallb.io objects, the
// configuration watcher and Event recording. It holds no decisions: it turns
// API state into the inputs of the pure packages and writes their results back.
package k8s

import (
	"fmt"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/runtime/serializer"
	"k8s.io/client-go/kubernetes"
	clientscheme "k8s.io/client-go/kubernetes/scheme"
	typedcorev1 "k8s.io/client-go/kubernetes/typed/core/v1"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/client-go/tools/record"

	"github.com/ironlb/ironlb/internal/api"
	"github.com/ironlb/ironlb/internal/api/v1beta1"
	"github.com/ironlb/ironlb/internal/api/v1beta2"
)

// Scheme knows the built-in kinds and the metallb.io kinds.
var Scheme = newScheme()

func newScheme() *runtime.Scheme {
	s := runtime.NewScheme()
	if err := clientscheme.AddToScheme(s); err != nil {
		panic(err) // static registration; cannot fail on input
	}
	if err := api.AddToScheme(s); err != nil {
		panic(err)
	}
	return s
}

// Clients are the API clients of one process.
type Clients struct {
	Kube kubernetes.Interface
	// MetalLBv1beta1 and MetalLBv1beta2 are REST clients for the metallb.io
	// versions, decoding into the typed objects of internal/api.
	MetalLBv1beta1 rest.Interface
	MetalLBv1beta2 rest.Interface
	// APIServers is the in-cluster clients' dialer (nil with a
	// kubeconfig): run its Follow to reach the API server directly while
	// the kubernetes Service refuses.
	APIServers *APIServerDialer
}

// NewClients connects with the kubeconfig at path, or the in-cluster
// configuration when path is empty. QPS and burst are raised well above
// client-go's defaults (5/10): writing the status of thousands of Services
// must not wait on a client-side limiter.
func NewClients(kubeconfig, userAgent string) (*Clients, error) {
	cfg, err := RESTConfig(kubeconfig, userAgent)
	if err != nil {
		return nil, err
	}
	cfg.QPS = 1000
	cfg.Burst = 2000
	var apiServers *APIServerDialer
	if service := inClusterService(); kubeconfig == "" && service != "" {
		apiServers = newAPIServerDialer(service)
		cfg.Dial = apiServers.DialContext
	}
	kube, err := kubernetes.NewForConfig(builtinConfig(cfg))
	if err != nil {
		return nil, err
	}
	v1, err := metallbClient(cfg, v1beta1.GroupVersion)
	if err != nil {
		return nil, err
	}
	v2, err := metallbClient(cfg, v1beta2.GroupVersion)
	if err != nil {
		return nil, err
	}
	return &Clients{Kube: kube, MetalLBv1beta1: v1, MetalLBv1beta2: v2, APIServers: apiServers}, nil
}

// RESTConfig is the client configuration of the kubeconfig at path, or the
// in-cluster configuration when path is empty, sent as userAgent.
func RESTConfig(kubeconfig, userAgent string) (*rest.Config, error) {
	var cfg *rest.Config
	var err error
	if kubeconfig != "" {
		cfg, err = clientcmd.BuildConfigFromFlags("", kubeconfig)
	} else {
		cfg, err = rest.InClusterConfig()
	}
	if err != nil {
		return nil, fmt.Errorf("kubernetes client configuration: %w", err)
	}
	cfg.UserAgent = userAgent
	return cfg, nil
}

// builtinConfig returns cfg speaking protobuf, which the API server encodes
// and decodes at a fraction of JSON's cost, for the built-in kinds only:
// custom resources (the metallb.io clients) have no protobuf encoding.
// ForVersion returns the REST client of a metallb.io version ("v1beta1" or
// "v1beta2"), as a config.Kind names it.
func (c *Clients) ForVersion(version string) rest.Interface {
	if version == v1beta2.GroupVersion.Version {
		return c.MetalLBv1beta2
	}
	return c.MetalLBv1beta1
}

func builtinConfig(cfg *rest.Config) *rest.Config {
	out := rest.CopyConfig(cfg)
	out.ContentType = runtime.ContentTypeProtobuf
	out.AcceptContentTypes = runtime.ContentTypeProtobuf + "," + runtime.ContentTypeJSON
	return out
}

func metallbClient(base *rest.Config, gv schema.GroupVersion) (rest.Interface, error) {
	cfg := rest.CopyConfig(base)
	cfg.GroupVersion = &gv
	cfg.APIPath = "/apis"
	cfg.NegotiatedSerializer = serializer.NewCodecFactory(Scheme).WithoutConversion()
	return rest.RESTClientFor(cfg)
}

// eventCacheSize is how many recent Events the recorder remembers (to count
// repeats and hold back a flood about one object), in each of its three
// caches. client-go's 4,096 cost a speaker with 10,000 Services 6 MB of
// heap, most of it for one Event per Service that never repeats.
const eventCacheSize = 1024

// NewEventRecorder returns a recorder that writes core/v1 Events as component.
// Call the returned stop function on shutdown.
func NewEventRecorder(kube kubernetes.Interface, component string) (record.EventRecorder, func()) {
	broadcaster := record.NewBroadcaster(record.WithCorrelatorOptions(record.CorrelatorOptions{LRUCacheSize: eventCacheSize}))
	broadcaster.StartRecordingToSink(&typedcorev1.EventSinkImpl{Interface: kube.CoreV1().Events("")})
	return broadcaster.NewRecorder(Scheme, corev1.EventSource{Component: component}), broadcaster.Shutdown
}
