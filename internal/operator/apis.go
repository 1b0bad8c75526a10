package operator

import "context"

// APIsConfig configures the API backend and gateway. (Filled in with the local provider.)
type APIsConfig struct{}

// apiState is the server's API backend. (Filled in with the local provider.)
type apiState struct{}

func (s *Server) registerAPIRoutes()                  {}
func (s *Server) startAPIs(ctx context.Context) error { return nil }
func (s *Server) stopAPIs(ctx context.Context)        {}
