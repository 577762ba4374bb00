package convert

import (
	"errors"
	"fmt"
	"reflect"
)

// Error kinds. Every error returned by a FromDocker function is one or more
// *FieldError joined with errors.Join; errors.Is tells the kind, so a server
// can answer 400 to both while logging them apart.
var (
	// ErrInvalid marks a value Docker itself would refuse, or that has no
	// meaning (a negative duration, an unknown enum value).
	ErrInvalid = errors.New("convert: invalid value")
	// ErrUnsupported marks a value Docker accepts but shoal does not
	// implement (secrets, overlay networks, the routing mesh, ...). It is
	// refused rather than dropped so that users never believe a setting is
	// in force when it is not.
	ErrUnsupported = errors.New("convert: not supported")
)

// FieldError names the field of the Docker request that was refused, by its
// path in the JSON body (e.g. "TaskTemplate.ContainerSpec.Mounts[1].Type"),
// and says why.
type FieldError struct {
	Field  string
	Reason string
	// Kind is ErrInvalid or ErrUnsupported.
	Kind error
}

func (e *FieldError) Error() string { return e.Field + ": " + e.Reason }

// Unwrap returns the kind, so errors.Is(err, ErrUnsupported) works.
func (e *FieldError) Unwrap() error { return e.Kind }

// checker collects every refused field of one request, so a user sees all
// problems at once instead of fixing them one round trip at a time.
type checker struct {
	errs []error
}

func (c *checker) invalid(field, format string, args ...any) {
	c.errs = append(c.errs, &FieldError{Field: field, Reason: fmt.Sprintf(format, args...), Kind: ErrInvalid})
}

func (c *checker) unsupported(field, format string, args ...any) {
	c.errs = append(c.errs, &FieldError{Field: field, Reason: fmt.Sprintf(format, args...), Kind: ErrUnsupported})
}

// refuse records field as unsupported unless v is empty (see isEmpty): the
// CLI sends empty structs such as "DNSConfig": {} with every request.
func (c *checker) refuse(field string, v any, why string) {
	if !isEmpty(reflect.ValueOf(v)) {
		c.unsupported(field, "%s", why)
	}
}

func (c *checker) err() error { return errors.Join(c.errs...) }

// isEmpty tells whether v carries no information: nil, zero, an empty slice
// or map, or a pointer to or struct of only such values.
func isEmpty(v reflect.Value) bool {
	switch v.Kind() {
	case reflect.Invalid:
		return true
	case reflect.Pointer, reflect.Interface:
		return v.IsNil() || isEmpty(v.Elem())
	case reflect.Slice, reflect.Map:
		return v.Len() == 0
	case reflect.Struct:
		for i := range v.NumField() {
			if !isEmpty(v.Field(i)) {
				return false
			}
		}
		return true
	default:
		return v.IsZero()
	}
}

func index(field string, i int) string { return fmt.Sprintf("%s[%d]", field, i) }
