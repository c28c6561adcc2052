// sys/key-status and sys/rotate: the barrier keyring.
#include "barrier/barrier.h"
#include "common/duration.h"
#include "core/core.h"
#include "core/sys_backend.h"

namespace tresor::core {

using framework::FieldData;
using framework::Path;
using logical::Operation;
using logical::Request;
using logical::ResponsePtr;

std::vector<Path> SysKeyPaths(Core* core) {
  Path status;
  status.pattern = "key-status";
  status.operations[Operation::kRead] = [core](Request&, FieldData&) -> Result<ResponsePtr> {
    ASSIGN_OR_RETURN(auto ks, core->barrier()->KeyStatus());
    return framework::Data({{"term", ks.term},
                            {"install_time", FormatRFC3339Nano(ks.install_time)},
                            {"encryptions", ks.encryptions}});
  };
  status.help_synopsis = "Provides information about the backend encryption key.";

  Path rotate;
  rotate.pattern = "rotate";
  rotate.operations[Operation::kUpdate] = [core](Request&, FieldData&) -> Result<ResponsePtr> {
    RETURN_IF_ERROR(core->barrier()->Rotate().status());
    return framework::NoContent();
  };
  rotate.help_synopsis = "Rotates the backend encryption key used to persist data.";
  return {status, rotate};
}

}  // namespace tresor::core
