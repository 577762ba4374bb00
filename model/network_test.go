package model

import (
	"bytes"
	"fmt"
	"log/slog"
	"strings"
	"testing"
)

// TestSecretDataIsNeverPrinted prints and logs secrets the ways code
// might: the data never shows.
func TestSecretDataIsNeverPrinted(t *testing.T) {
	const data = "hunter2-secret"
	sec := &Secret{ID: "s1", Spec: SecretSpec{Annotations: Annotations{Name: "pw", Labels: map[string]string{"a": "b"}}, Data: []byte(data)}}
	var logs bytes.Buffer
	for _, h := range []slog.Handler{slog.NewTextHandler(&logs, nil), slog.NewJSONHandler(&logs, nil)} {
		l := slog.New(h)
		l.Info("secret", "secret", sec, "value", *sec, "spec", sec.Spec)
	}
	printed := []string{
		fmt.Sprint(sec.Spec), fmt.Sprintf("%v", *sec), fmt.Sprintf("%+v", *sec), fmt.Sprintf("%+v", sec),
		fmt.Sprintf("%+v", struct{ Secret *Secret }{sec}), logs.String(),
	}
	for _, p := range printed {
		if strings.Contains(p, data) || strings.Contains(p, "104 117 110") || strings.Contains(p, "aHVudGVy") {
			t.Errorf("secret data printed: %s", p)
		}
	}
	if !strings.Contains(logs.String(), "data_bytes") || !strings.Contains(printed[0], "(14 bytes)") {
		t.Errorf("the size should show instead: %s %s", printed[0], logs.String())
	}
}
