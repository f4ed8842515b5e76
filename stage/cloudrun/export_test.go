package cloudrun

// WithJitter fixes the random source of the backoff jitter (retries and
// operation polls) so that tests can assert exact delays; 0 means no
// jitter. Only this package's tests can name it.
func WithJitter(rand func() float64) Option {
	return func(c *config) { c.jitter = rand }
}
