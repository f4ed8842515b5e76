package emulator

import (
	"context"
	"fmt"
	"slices"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
)

// Intercept returns a registrar that registers services on r with icpt
// around each of their unary methods, so an emulator's request log and
// fault injection work on any server it is mounted on. Interceptors of r's
// own server run outside icpt. Streaming methods are registered unchanged.
func Intercept(r grpc.ServiceRegistrar, icpt grpc.UnaryServerInterceptor) grpc.ServiceRegistrar {
	return intercepted{r: r, icpt: icpt}
}

type intercepted struct {
	r    grpc.ServiceRegistrar
	icpt grpc.UnaryServerInterceptor
}

func (i intercepted) RegisterService(desc *grpc.ServiceDesc, impl any) {
	d := *desc
	d.Methods = slices.Clone(desc.Methods)
	for k, m := range d.Methods {
		h := m.Handler
		d.Methods[k].Handler = func(srv any, ctx context.Context, dec func(any) error, outer grpc.UnaryServerInterceptor) (any, error) {
			icpt := i.icpt
			if outer != nil {
				icpt = Chain(outer, i.icpt)
			}
			return h(srv, ctx, dec, icpt)
		}
	}
	i.r.RegisterService(&d, impl)
}

// Mux collects service registrations from several emulators and installs
// them on one server. A service registered once is installed as it is. A
// service several emulators register (google.longrunning.Operations) is
// installed once: each call tries the emulators in registration order and
// returns the first answer that is not NOT_FOUND or UNIMPLEMENTED, so a
// GetOperation reaches the emulator that owns the operation. Each emulator
// tried records the call in its own log. Such a shared service must have
// no streaming methods.
//
// A Mux is not safe for concurrent use; register from one goroutine, then
// call [Mux.Install] once.
type Mux struct {
	order []string             // service names in first-registration order
	regs  map[string][]service // by service name
}

type service struct {
	desc *grpc.ServiceDesc
	impl any
}

// RegisterService implements grpc.ServiceRegistrar.
func (m *Mux) RegisterService(desc *grpc.ServiceDesc, impl any) {
	if m.regs == nil {
		m.regs = map[string][]service{}
	}
	if _, ok := m.regs[desc.ServiceName]; !ok {
		m.order = append(m.order, desc.ServiceName)
	}
	m.regs[desc.ServiceName] = append(m.regs[desc.ServiceName], service{desc: desc, impl: impl})
}

// Services returns the full names of the registered services in
// registration order.
func (m *Mux) Services() []string { return slices.Clone(m.order) }

// Install registers every collected service on r. It fails, registering
// nothing, when a service registered more than once has streaming methods.
func (m *Mux) Install(r grpc.ServiceRegistrar) error {
	for _, name := range m.order {
		if regs := m.regs[name]; len(regs) > 1 {
			for _, s := range regs {
				if len(s.desc.Streams) > 0 {
					return fmt.Errorf("service %s is registered %d times and has streaming methods, which cannot be shared", name, len(regs))
				}
			}
		}
	}
	for _, name := range m.order {
		regs := m.regs[name]
		if len(regs) == 1 {
			r.RegisterService(regs[0].desc, regs[0].impl)
			continue
		}
		r.RegisterService(merge(regs), regs[0].impl)
	}
	return nil
}

// merge builds one description of a service several emulators register;
// every method tries them in order.
func merge(regs []service) *grpc.ServiceDesc {
	d := *regs[0].desc
	d.Methods = nil
	var names []string
	for _, s := range regs {
		for _, md := range s.desc.Methods {
			if !slices.Contains(names, md.MethodName) {
				names = append(names, md.MethodName)
			}
		}
	}
	for _, name := range names {
		d.Methods = append(d.Methods, grpc.MethodDesc{MethodName: name, Handler: tryEach(regs, name)})
	}
	return &d
}

func tryEach(regs []service, method string) grpc.MethodHandler {
	return func(_ any, ctx context.Context, dec func(any) error, icpt grpc.UnaryServerInterceptor) (any, error) {
		dec = redecodable(dec)
		var first error
		for _, s := range regs {
			i := slices.IndexFunc(s.desc.Methods, func(md grpc.MethodDesc) bool { return md.MethodName == method })
			if i < 0 {
				continue
			}
			resp, err := s.desc.Methods[i].Handler(s.impl, ctx, dec, icpt)
			if c := status.Code(err); c != codes.NotFound && c != codes.Unimplemented {
				return resp, err
			}
			if first == nil {
				first = err
			}
		}
		return nil, first
	}
}

// redecodable wraps a request decoder that works once (grpc frees the
// received bytes after decoding) so that every handler tried gets its own
// copy of the request.
func redecodable(dec func(any) error) func(any) error {
	var (
		decoded bool
		saved   proto.Message // a copy of the first decoded request
		err     error
	)
	return func(v any) error {
		m, ok := v.(proto.Message)
		if !decoded {
			decoded = true
			if err = dec(v); err == nil && ok {
				saved = proto.Clone(m)
			}
			return err
		}
		if err != nil {
			return err
		}
		if !ok || saved == nil {
			return status.Errorf(codes.Internal, "emulator: a shared service's request %T is not a protocol buffer message", v)
		}
		proto.Reset(m)
		proto.Merge(m, saved)
		return nil
	}
}
