package emulator

import (
	"bytes"
	"fmt"
	"net/http"
	"strings"

	"connectrpc.com/vanguard"
	"connectrpc.com/vanguard/vanguardgrpc"
	"google.golang.org/api/option"
	"google.golang.org/genproto/googleapis/api/annotations"
	spb "google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
)

// REST returns the REST/JSON surface of the gRPC services registered on g:
// every method with a google.api.http annotation answers its HTTP path,
// transcoded by connectrpc.com/vanguard (vanguardgrpc.NewTranscoder) into a
// call through g, so g's interceptors (the [Kit]'s request log, injected
// faults and latency) see REST calls as they see gRPC ones. Bodies are
// JSON in the proto3 JSON mapping; errors are answered in the JSON error
// shape of Google REST APIs ([WriteGoogleError]), not vanguard's bare
// google.rpc.Status. Requests no annotation matches go to unknown (nil
// answers 404 in the same shape). Register every service on g first.
func REST(g *grpc.Server, unknown http.Handler) (http.Handler, error) {
	if unknown == nil {
		names := make([]string, 0, len(g.GetServiceInfo()))
		for n := range g.GetServiceInfo() {
			names = append(names, n)
		}
		unknown = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			WriteGoogleError(w, r, status.Errorf(codes.NotFound, "%s %s is not a REST method of the emulated services (%s)", r.Method, r.URL.Path, strings.Join(names, ", ")))
		})
	}
	// Google's REST APIs leave unset fields out of responses (the proto3
	// JSON mapping's default), unlike vanguard's default JSON codec.
	jsonCodec := func(res vanguard.TypeResolver) vanguard.Codec {
		return &vanguard.JSONCodec{
			MarshalOptions:   protojson.MarshalOptions{Resolver: res},
			UnmarshalOptions: protojson.UnmarshalOptions{Resolver: res, DiscardUnknown: true},
		}
	}
	opts := []vanguard.TranscoderOption{
		vanguard.WithUnknownHandler(unknown),
		vanguard.WithCodec(jsonCodec),
		vanguard.WithDefaultServiceOptions(vanguard.WithMaxMessageBufferBytes(MaxBodyBytes)),
	}
	if _, ok := g.GetServiceInfo()[operationsService]; ok {
		opts = append(opts, vanguard.WithRules(operationRules()...))
	}
	t, err := vanguardgrpc.NewTranscoder(g, opts...)
	if err != nil {
		return nil, fmt.Errorf("transcoding REST to gRPC: %w", err)
	}
	verbs := customVerbs(g)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r = withoutSystemParameters(r)
		r = escapedPath(r, verbs)
		ew := &errorWriter{ResponseWriter: w}
		t.ServeHTTP(ew, r)
		ew.finish(r)
	}), nil
}

// systemParameters are the query parameters every Google REST API takes
// beside the request's fields ("System Parameters",
// https://cloud.google.com/apis/docs/system-parameters); the Go REST
// clients send "$alt=json;enum-encoding=int". vanguard would read them as
// fields of the request, so they are dropped (their effect, such as
// prettyPrint or fields masks, is not emulated: JSON is always answered).
var systemParameters = []string{"$alt", "alt", "$.xgafv", "$callback", "callback", "fields", "$fields", "key", "access_token", "prettyPrint", "$prettyPrint", "quotaUser", "$quotaUser", "upload_protocol", "uploadType", "userIp", "$userProject", "userProject", "$outputDefaults", "$apiVersion"}

// withoutSystemParameters returns r without [systemParameters] in its query.
func withoutSystemParameters(r *http.Request) *http.Request {
	if r.URL.RawQuery == "" {
		return r
	}
	q := r.URL.Query()
	n := len(q)
	for _, p := range systemParameters {
		delete(q, p)
	}
	if len(q) == n {
		return r
	}
	r = r.Clone(r.Context())
	r.URL.RawQuery = q.Encode()
	return r
}

// escapedPath returns r whose URL.Path, the one vanguard routes on, is the
// path as the client escaped it, with every ':' of the last segment
// escaped except the one before a custom verb of verbs. vanguard splits on
// the decoded path: a resource ID holding an escaped '/' (a nested package
// "team%2Fapi") would split into two segments, and one holding ':' (a
// version "sha256:…", which the Go REST clients send unescaped) would be
// read as a custom verb. It unescapes each variable's value itself.
func escapedPath(r *http.Request, verbs map[string]bool) *http.Request {
	p := r.URL.EscapedPath()
	i := strings.LastIndexByte(p, '/')
	head, last := p[:i+1], p[i+1:]
	verb := ""
	if j := strings.LastIndexByte(last, ':'); j >= 0 && verbs[last[j+1:]] {
		last, verb = last[:j], last[j:]
	}
	escaped := head + strings.ReplaceAll(last, ":", "%3A") + verb
	if escaped == r.URL.Path {
		return r
	}
	r = r.Clone(r.Context())
	r.URL.Path, r.URL.RawPath = escaped, ""
	return r
}

// customVerbs returns the custom verbs (":getIamPolicy", without the
// colon) of the google.api.http rules of the services registered on g.
func customVerbs(g *grpc.Server) map[string]bool {
	verbs := map[string]bool{}
	add := func(r *annotations.HttpRule) {
		for _, b := range append([]*annotations.HttpRule{r}, r.GetAdditionalBindings()...) {
			path := b.GetGet() + b.GetPost() + b.GetPut() + b.GetPatch() + b.GetDelete() + b.GetCustom().GetPath()
			tail := path[strings.LastIndexAny(path, "/}")+1:]
			if j := strings.LastIndexByte(tail, ':'); j >= 0 {
				verbs[tail[j+1:]] = true
			}
		}
	}
	for name := range g.GetServiceInfo() {
		d, err := protoregistry.GlobalFiles.FindDescriptorByName(protoreflect.FullName(name))
		sd, ok := d.(protoreflect.ServiceDescriptor)
		if err != nil || !ok {
			continue
		}
		for i := range sd.Methods().Len() {
			if r, ok := proto.GetExtension(sd.Methods().Get(i).Options(), annotations.E_Http).(*annotations.HttpRule); ok && r != nil {
				add(r)
			}
		}
	}
	for _, r := range operationRules() {
		add(r)
	}
	return verbs
}

const operationsService = "google.longrunning.Operations"

// operationRules are the REST paths of google.longrunning.Operations that
// the APIs' service configurations give (the proto's own annotation is
// only GET /v1/{name=operations/**}), as the Go REST clients call them:
// Cloud Run's url_template "/v2/{name=projects/*/locations/*/operations/*}"
// (and ":wait", ".../operations" listing) in
// cloud.google.com/go/run/apiv2 services_client.go, Artifact Registry's
// "/v1/{name=projects/*/locations/*/operations/*}" in
// cloud.google.com/go/artifactregistry/apiv1 artifact_registry_client.go.
func operationRules() []*annotations.HttpRule {
	get := func(path string) *annotations.HttpRule {
		return &annotations.HttpRule{Pattern: &annotations.HttpRule_Get{Get: path}}
	}
	// The rules add to the annotation, which stays served.
	sel := func(method string, r *annotations.HttpRule, more ...*annotations.HttpRule) *annotations.HttpRule {
		r.Selector, r.AdditionalBindings = operationsService+"."+method, more
		return r
	}
	return []*annotations.HttpRule{
		sel("GetOperation", get("/v2/{name=projects/*/locations/*/operations/*}"),
			get("/v1/{name=projects/*/locations/*/operations/*}")),
		sel("ListOperations", get("/v2/{name=projects/*/locations/*}/operations")),
		sel("DeleteOperation", &annotations.HttpRule{Pattern: &annotations.HttpRule_Delete{Delete: "/v2/{name=projects/*/locations/*/operations/*}"}}),
		sel("WaitOperation", &annotations.HttpRule{Pattern: &annotations.HttpRule_Post{Post: "/v2/{name=projects/*/locations/*/operations/*}:wait"}, Body: "*"}),
	}
}

// RESTClientOptions returns the options that connect a gapic REST client
// (NewXxxRESTClient) to the REST/JSON surface of an emulator at addr
// ("host:port"): the endpoint "http://addr" and no authentication.
func RESTClientOptions(addr string) []option.ClientOption {
	return []option.ClientOption{option.WithEndpoint("http://" + addr), option.WithoutAuthentication()}
}

// errorWriter passes a response through unless its status is an error with
// a JSON body, which it holds back so finish can answer it in Google's
// error shape.
type errorWriter struct {
	http.ResponseWriter
	code int
	held bool
	body bytes.Buffer
}

func (e *errorWriter) WriteHeader(code int) {
	if e.code != 0 {
		return
	}
	e.code = code
	if code >= 400 {
		e.held = true
		return
	}
	e.ResponseWriter.WriteHeader(code)
}

func (e *errorWriter) Write(b []byte) (int, error) {
	if e.code == 0 {
		e.WriteHeader(http.StatusOK)
	}
	if e.held {
		return e.body.Write(b)
	}
	return e.ResponseWriter.Write(b)
}

// Flush flushes a response not held back.
func (e *errorWriter) Flush() {
	if f, ok := e.ResponseWriter.(http.Flusher); ok && !e.held {
		f.Flush()
	}
}

// Unwrap returns the wrapped writer, for http.ResponseController.
func (e *errorWriter) Unwrap() http.ResponseWriter { return e.ResponseWriter }

// finish answers a held-back error in Google's JSON error shape: vanguard's
// google.rpc.Status JSON by its code, its plain-text errors (405 Method
// Not Allowed, 415 for a body that is not JSON) by the HTTP status. A body
// already in Google's shape (the unknown handler's) passes through.
func (e *errorWriter) finish(r *http.Request) {
	if !e.held {
		return
	}
	w := e.ResponseWriter
	w.Header().Del("Content-Encoding")
	w.Header().Del("Content-Length")
	body := bytes.TrimSpace(e.body.Bytes())
	var st spb.Status
	switch {
	case bytes.HasPrefix(body, []byte(`{"error"`)):
		w.WriteHeader(e.code)
		_, _ = w.Write(e.body.Bytes()) // the client went away: nothing to do
	case bytes.HasPrefix(body, []byte("{")) && protojson.Unmarshal(body, &st) == nil:
		WriteGoogleError(w, r, status.FromProto(&st).Err())
	default:
		c := codeOfHTTP(e.code)
		WriteJSON(w, e.code, map[string]any{"error": map[string]any{"code": e.code, "message": string(body), "status": StatusName(c)}})
	}
}

// codeOfHTTP is the gRPC code of an HTTP error status, the inverse of
// [HTTPStatus] where it is one-to-one; other 4xx are INVALID_ARGUMENT,
// other 5xx INTERNAL.
func codeOfHTTP(code int) codes.Code {
	for _, c := range []codes.Code{codes.NotFound, codes.Unauthenticated, codes.PermissionDenied, codes.ResourceExhausted, codes.Unimplemented, codes.Unavailable, codes.DeadlineExceeded} {
		if HTTPStatus(c) == code {
			return c
		}
	}
	if code < 500 {
		return codes.InvalidArgument
	}
	return codes.Internal
}
