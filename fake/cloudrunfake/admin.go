package cloudrunfake

// Run-time switches of what the options set at start, for the admin API
// of fake/emulators and for tests that change their mind mid-way.

// SetManualOperations turns [WithManualOperations] on or off from now on:
// with it on, new operations stay pending until [Server.CompleteOperations]
// or [Server.CompleteOperation]; turning it off completes none of those
// already pending.
func (s *Server) SetManualOperations(on bool) {
	s.s.mu.Lock()
	defer s.s.mu.Unlock()
	s.s.cfg.manualOps = on
}

// FailImage makes every revision created from now on whose containers use
// image fail to become ready with message, as [WithFailingImage]; an empty
// message stops failing the image.
func (s *Server) FailImage(image, message string) {
	s.s.mu.Lock()
	defer s.s.mu.Unlock()
	if message == "" {
		delete(s.s.cfg.failImages, image)
		return
	}
	s.s.cfg.failImages[image] = message
}
