package emulator

import (
	"fmt"
	"strings"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/known/fieldmaskpb"
)

// ApplyMask returns the resource an update with mask writes, per AIP-134:
// a copy of cur whose fields named by mask ("template", "labels",
// "template.scaling", …) are replaced by in's (an empty field in in
// clears it); "*" replaces every field. A path naming no field of the
// message is INVALID_ARGUMENT naming it. in and cur are not modified.
func ApplyMask(cur, in proto.Message, mask *fieldmaskpb.FieldMask) (proto.Message, error) {
	out := proto.Clone(cur)
	for _, path := range mask.GetPaths() {
		if path == "*" {
			return proto.Clone(in), nil
		}
		if err := copyPath(out.ProtoReflect(), in.ProtoReflect(), strings.Split(path, ".")); err != nil {
			return nil, status.Errorf(codes.InvalidArgument, "update_mask: path %q: %v", path, err)
		}
	}
	return out, nil
}

// copyPath sets the field at path of dst to src's.
func copyPath(dst, src protoreflect.Message, path []string) error {
	fd := dst.Descriptor().Fields().ByName(protoreflect.Name(path[0]))
	if fd == nil {
		return fmt.Errorf("%s has no field %q", dst.Descriptor().FullName(), path[0])
	}
	if len(path) == 1 {
		if src.Has(fd) {
			dst.Set(fd, src.Get(fd))
		} else {
			dst.Clear(fd)
		}
		return nil
	}
	if fd.Kind() != protoreflect.MessageKind || fd.IsList() || fd.IsMap() {
		return fmt.Errorf("%q is not a message field, so it has no sub-field %q", path[0], path[1])
	}
	return copyPath(dst.Mutable(fd).Message(), src.Get(fd).Message(), path[1:])
}
