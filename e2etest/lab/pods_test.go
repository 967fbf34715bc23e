package lab

import "testing"

func TestTaskPID(t *testing.T) {
	const tasks = `TASK                                                                PID      STATUS
4f1c2d0e9a7b8c6d5e4f3a2b1c0d9e8f7a6b5c4d3e2f1a0b9c8d7e6f5a4b3c2d    24871    RUNNING
9e8f7a6b5c4d3e2f1a0b9c8d7e6f5a4b3c2d4f1c2d0e9a7b8c6d5e4f3a2b1c0d    0        STOPPED
`
	for _, tc := range []struct {
		name, id string
		want     int
		wantErr  bool
	}{
		{"running", "4f1c2d0e9a7b8c6d5e4f3a2b1c0d9e8f7a6b5c4d3e2f1a0b9c8d7e6f5a4b3c2d", 24871, false},
		{"stopped task has no process", "9e8f7a6b5c4d3e2f1a0b9c8d7e6f5a4b3c2d4f1c2d0e9a7b8c6d5e4f3a2b1c0d", 0, true},
		{"unknown container", "0000", 0, true},
		{"header is no task", "TASK", 0, true},
		{"prefix of an ID is no match", "4f1c2d0e", 0, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := taskPID(tasks, tc.id)
			if (err != nil) != tc.wantErr || got != tc.want {
				t.Errorf("taskPID(%q) = %d, %v; want %d, error %v", tc.id, got, err, tc.want, tc.wantErr)
			}
		})
	}
}
