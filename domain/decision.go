package domain

// Decision is what every command returns: the events to append to the aggregate's stream
// and the error to give the caller. The four shapes are:
//
//   - Events, no Err: the command succeeded; append the events.
//   - Err, no Events: the command was refused and nothing happened; append nothing.
//   - Events and Err: a check failed and the failure is itself a fact (a wrong code, a wrong
//     number, an expired challenge, a lockout). Append the events, then return Err.
//   - neither: the command was a no-op (for example a repeated delivery acknowledgement).
//
// Callers must append Events even when Err is set; that is how failed checks are counted.
type Decision struct {
	Events []Event
	Err    error
}

func accept(events ...Event) Decision { return Decision{Events: events} }

func refuse(err error) Decision { return Decision{Err: err} }

func fail(err error, events ...Event) Decision { return Decision{Events: events, Err: err} }
