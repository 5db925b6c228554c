package cfgerr

import "errors"

// List flattens an error into its problems, each with its file and line
// when it has them: the entries of Errors (or of any error with
// Unwrap() []error), else the error itself. An entry that is not an *Error
// comes back with only Msg set.
func List(err error) []*Error {
	if err == nil {
		return nil
	}
	var es Errors
	if errors.As(err, &es) {
		return es
	}
	list := []error{err}
	if u, ok := err.(interface{ Unwrap() []error }); ok {
		list = u.Unwrap()
	}
	out := make([]*Error, 0, len(list))
	for _, e := range list {
		var ce *Error
		if errors.As(e, &ce) {
			out = append(out, ce)
			continue
		}
		out = append(out, &Error{Msg: e.Error(), Err: e})
	}
	return out
}
