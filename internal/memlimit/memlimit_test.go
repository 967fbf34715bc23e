package memlimit

import "testing"

func TestSoft(t *testing.T) {
	tests := []struct {
		name                       string
		containerLimit, goMemLimit string
		want                       int64
		wantOK, wantErr            bool
	}{
		{name: "a fraction of the container's limit", containerLimit: "536870912", want: 483183820, wantOK: true},
		{name: "no container limit passed", containerLimit: ""},
		{name: "GOMEMLIMIT set: the runtime's own wins", containerLimit: "536870912", goMemLimit: "300MiB"},
		{name: "a quantity, not bytes", containerLimit: "512Mi", wantErr: true},
		{name: "zero", containerLimit: "0", wantErr: true},
		{name: "negative", containerLimit: "-1", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok, err := Soft(tt.containerLimit, tt.goMemLimit)
			if got != tt.want || ok != tt.wantOK || (err != nil) != tt.wantErr {
				t.Errorf("Soft(%q, %q) = %d, %v, %v; want %d, %v, error %v", tt.containerLimit, tt.goMemLimit, got, ok, err, tt.want, tt.wantOK, tt.wantErr)
			}
		})
	}
}
