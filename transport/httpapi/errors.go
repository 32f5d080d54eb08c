package httpapi

import (
	"errors"
	"net/http"

	"github.com/danielgtaylor/huma/v2"
	"github.com/labstack/echo/v4"

	"github.com/assent-dev/assent/transport/apierror"
)

// newProblem is huma's error constructor for this API: huma calls it for invalid requests and
// unknown routes, and the handlers for every refusal.
func newProblem(status int, msg string, errs ...error) huma.StatusError {
	p := apierror.New(status, apierror.CodeForStatus(status), msg)
	for _, err := range errs {
		if err == nil {
			continue
		}
		// A body without a length that outgrows echo's limit fails while huma reads it.
		var he *echo.HTTPError
		if errors.As(err, &he) && he.Code == http.StatusRequestEntityTooLarge {
			return apierror.New(he.Code, apierror.CodeForStatus(he.Code), "The request body is too large.")
		}
		var d huma.ErrorDetailer
		if errors.As(err, &d) {
			ed := d.ErrorDetail()
			p.Details = append(p.Details, apierror.ProblemDetail{Location: ed.Location, Message: ed.Message})
			continue
		}
		p.Details = append(p.Details, apierror.ProblemDetail{Message: err.Error()})
	}
	return p
}
