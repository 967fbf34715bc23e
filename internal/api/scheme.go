package api

import (
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/ironlb/ironlb/internal/api/v1beta1"
	"github.com/ironlb/ironlb/internal/api/v1beta2"
)

// AddToScheme registers every metallb.io version ironlb serves.
func AddToScheme(scheme *runtime.Scheme) error {
	if err := v1beta1.AddToScheme(scheme); err != nil {
		return err
	}
	return v1beta2.AddToScheme(scheme)
}
