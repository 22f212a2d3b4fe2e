// nccl_mpi.cpp (software device): the NCCL subset of nccl.h over MPI. A
// communicator of one rank needs nothing; one of several ranks is a duplicate
// of the MPI world that mpirun made (the caller has initialised MPI, as
// src/dist/nccl.cpp does before ncclCommInitRank), ordered by NCCL rank.
// Each collective first checks its buffers against the device allocations
// (a count too large for its buffer is an error here), then the ranks compare
// what they were asked (operation, count, type, operator, root) and all fail
// together on a mismatch; then it runs, at the call, in place where NCCL's
// in-place conventions say so. Without MPI in the build, only one rank.
#include <cstdio>
#include <cstring>
#include <memory>
#include <random>
#include <string>
#include <vector>

#ifdef ALIGN_WITH_MPI
#include <mpi.h>
#endif

#include "emu/state.hpp"
#include "nccl.h"

struct ncclComm {
  int nranks = 1, rank = 0;
#ifdef ALIGN_WITH_MPI
  MPI_Comm mpi = MPI_COMM_NULL;
#endif
};

namespace emu {
namespace {

ncclResult_t refuse(ncclResult_t r, const std::string& message) {
  std::fprintf(stderr, "software device: %s\n", message.c_str());
  std::fflush(stderr);
  return r;
}

size_t type_size(ncclDataType_t t) {
  switch (t) {
    case ncclInt8:
    case ncclUint8:
      return 1;
    case ncclFloat16:
    case ncclBfloat16:
      return 2;
    case ncclInt32:
    case ncclUint32:
    case ncclFloat32:
      return 4;
    case ncclInt64:
    case ncclUint64:
    case ncclFloat64:
      return 8;
  }
  return 0;
}

// What one rank was asked to do; every rank must agree.
struct Request {
  int op, count_hi, count_lo, type, redop, root;
  bool operator==(const Request&) const = default;
};

#ifdef ALIGN_WITH_MPI
MPI_Datatype mpi_type(ncclDataType_t t) {
  switch (t) {
    case ncclInt8:
      return MPI_INT8_T;
    case ncclUint8:
      return MPI_UINT8_T;
    case ncclInt32:
      return MPI_INT32_T;
    case ncclUint32:
      return MPI_UINT32_T;
    case ncclInt64:
      return MPI_INT64_T;
    case ncclUint64:
      return MPI_UINT64_T;
    case ncclFloat32:
      return MPI_FLOAT;
    case ncclFloat64:
      return MPI_DOUBLE;
    default:
      return MPI_DATATYPE_NULL;
  }
}
MPI_Op mpi_op(ncclRedOp_t op) {
  switch (op) {
    case ncclSum:
      return MPI_SUM;
    case ncclProd:
      return MPI_PROD;
    case ncclMax:
      return MPI_MAX;
    case ncclMin:
      return MPI_MIN;
    default:
      return MPI_OP_NULL;
  }
}
#endif

const char* op_names[] = {"ncclAllReduce", "ncclBroadcast", "ncclReduceScatter", "ncclAllGather"};

// The checks every collective makes; ncclSuccess when it may run.
ncclResult_t prepare(ncclComm_t comm, int op, const void* send, size_t send_bytes, const void* recv, size_t recv_bytes,
                     size_t count, ncclDataType_t type, ncclRedOp_t redop, int root) {
  const std::string call = op_names[op];
  if (!comm) return refuse(ncclInvalidArgument, call + ": no communicator");
  if (sticky_error()) return ncclUnhandledCudaError;
  if (type_size(type) == 0 || (type == ncclFloat16 || type == ncclBfloat16))
    return refuse(ncclInvalidArgument,
                  cat_str(call, ": data type ", (int)type, " is not implemented by the software device"));
  if (op != 1 && op != 3 && (redop != ncclSum && redop != ncclProd && redop != ncclMax && redop != ncclMin))
    return refuse(ncclInvalidArgument, cat_str(call, ": reduction ", (int)redop, " is not implemented"));
  if (root < 0 || root >= comm->nranks)
    return refuse(ncclInvalidArgument, cat_str(call, ": root ", root, " of ", comm->nranks, " ranks"));
  ncclResult_t local = ncclSuccess;
  if (send_bytes) {
    const std::string bad = check_device_range(send, send_bytes, call + " send buffer");
    if (!bad.empty()) local = refuse(ncclInvalidArgument, bad);
  }
  if (local == ncclSuccess && recv_bytes) {
    const std::string bad = check_device_range(recv, recv_bytes, call + " receive buffer");
    if (!bad.empty()) local = refuse(ncclInvalidArgument, bad);
  }
#ifdef ALIGN_WITH_MPI
  if (comm->nranks > 1) {
    const Request mine{op,
                       (int)(count >> 31),
                       (int)(count & 0x7fffffff),
                       (int)type,
                       op == 1 || op == 3 ? 0 : (int)redop,
                       op == 1 ? root : 0};
    std::vector<Request> all(comm->nranks);
    MPI_Allgather(&mine, sizeof mine, MPI_BYTE, all.data(), sizeof mine, MPI_BYTE, comm->mpi);
    int any_bad = local != ncclSuccess;
    MPI_Allreduce(MPI_IN_PLACE, &any_bad, 1, MPI_INT, MPI_MAX, comm->mpi);
    for (int r = 0; r < comm->nranks; r++)
      if (!(all[r] == all[0]))
        return refuse(
            ncclInvalidUsage,
            cat_str(call, " on rank ", comm->rank, ": ranks disagree: rank 0 asked for ", op_names[all[0].op], " of ",
                    ((size_t)all[0].count_hi << 31) | (size_t)all[0].count_lo, " elements of type ", all[0].type,
                    ", rank ", r, " for ", op_names[all[r].op], " of ",
                    ((size_t)all[r].count_hi << 31) | (size_t)all[r].count_lo, " elements of type ", all[r].type));
    if (any_bad)
      return local != ncclSuccess ? local
                                  : refuse(ncclRemoteError, cat_str(call, ": another rank's buffers are invalid"));
  }
#endif
  return local;
}

}  // namespace
}  // namespace emu

using namespace emu;

ncclResult_t ncclGetVersion(int* version) {
  *version = NCCL_MAJOR * 10000 + NCCL_MINOR * 100 + NCCL_PATCH;
  return ncclSuccess;
}

ncclResult_t ncclGetUniqueId(ncclUniqueId* id) {
  std::random_device rd;
  for (char& c : id->internal) c = (char)rd();
  std::memcpy(id->internal, "align-emu", 9);
  return ncclSuccess;
}

ncclResult_t ncclCommInitRank(ncclComm_t* comm, int nranks, ncclUniqueId id, int rank) {
  *comm = nullptr;
  if (nranks < 1 || rank < 0 || rank >= nranks)
    return refuse(ncclInvalidArgument, cat_str("ncclCommInitRank: rank ", rank, " of ", nranks));
  if (std::memcmp(id.internal, "align-emu", 9) != 0)
    return refuse(ncclInvalidArgument, "ncclCommInitRank: the id does not come from ncclGetUniqueId");
  auto c = std::make_unique<ncclComm>();
  c->nranks = nranks, c->rank = rank;
  if (nranks > 1) {
#ifdef ALIGN_WITH_MPI
    int initialized = 0, world = 0;
    MPI_Initialized(&initialized);
    if (!initialized)
      return refuse(ncclInvalidUsage,
                    "ncclCommInitRank: the software device's NCCL runs over MPI: launch the ranks with mpirun");
    MPI_Comm_size(MPI_COMM_WORLD, &world);
    if (world != nranks)
      return refuse(ncclInvalidUsage,
                    cat_str("ncclCommInitRank: ", nranks, " ranks asked, but mpirun started ", world));
    MPI_Comm_split(MPI_COMM_WORLD, 0, rank, &c->mpi);
    std::vector<char> ids((size_t)nranks * NCCL_UNIQUE_ID_BYTES);
    MPI_Allgather(id.internal, NCCL_UNIQUE_ID_BYTES, MPI_BYTE, ids.data(), NCCL_UNIQUE_ID_BYTES, MPI_BYTE, c->mpi);
    for (int r = 0; r < nranks; r++)
      if (std::memcmp(ids.data() + (size_t)r * NCCL_UNIQUE_ID_BYTES, id.internal, NCCL_UNIQUE_ID_BYTES) != 0)
        return refuse(ncclInvalidUsage, cat_str("ncclCommInitRank: rank ", r, " holds another unique id"));
#else
    return refuse(ncclInvalidUsage,
                  "ncclCommInitRank: this build has no MPI, so the software device's NCCL has one rank");
#endif
  }
  *comm = c.release();
  return ncclSuccess;
}

ncclResult_t ncclCommDestroy(ncclComm_t comm) {
#ifdef ALIGN_WITH_MPI
  int finalized = 0;
  MPI_Finalized(&finalized);
  if (comm && comm->mpi != MPI_COMM_NULL && !finalized) MPI_Comm_free(&comm->mpi);
#endif
  delete comm;
  return ncclSuccess;
}
ncclResult_t ncclCommAbort(ncclComm_t comm) {
  delete comm;  // the MPI job ends with the process
  return ncclSuccess;
}
ncclResult_t ncclCommGetAsyncError(ncclComm_t, ncclResult_t* async_error) {
  *async_error = ncclSuccess;
  return ncclSuccess;
}
ncclResult_t ncclCommCount(ncclComm_t comm, int* count) {
  *count = comm->nranks;
  return ncclSuccess;
}
ncclResult_t ncclCommUserRank(ncclComm_t comm, int* rank) {
  *rank = comm->rank;
  return ncclSuccess;
}
ncclResult_t ncclGroupStart() {
  return ncclSuccess;
}
ncclResult_t ncclGroupEnd() {
  return ncclSuccess;
}

const char* ncclGetErrorString(ncclResult_t r) {
  switch (r) {
    case ncclSuccess:
      return "no error";
    case ncclUnhandledCudaError:
      return "unhandled cuda error (run with NCCL_DEBUG=INFO for details)";
    case ncclSystemError:
      return "unhandled system error";
    case ncclInternalError:
      return "internal error";
    case ncclInvalidArgument:
      return "invalid argument";
    case ncclInvalidUsage:
      return "invalid usage";
    case ncclRemoteError:
      return "remote process exited or there was a network error";
    case ncclInProgress:
      return "NCCL operation in progress";
  }
  return "unknown result code";
}

ncclResult_t ncclAllReduce(const void* send, void* recv, size_t count, ncclDataType_t type, ncclRedOp_t op,
                           ncclComm_t comm, cudaStream_t) {
  const size_t bytes = count * type_size(type);
  if (const ncclResult_t r = prepare(comm, 0, send, bytes, recv, bytes, count, type, op, 0)) return r;
  if (comm->nranks == 1) {
    if (send != recv && bytes) std::memmove(recv, send, bytes);
    return ncclSuccess;
  }
#ifdef ALIGN_WITH_MPI
  MPI_Allreduce(send == recv ? MPI_IN_PLACE : send, recv, (int)count, mpi_type(type), mpi_op(op), comm->mpi);
#endif
  return ncclSuccess;
}

ncclResult_t ncclBroadcast(const void* send, void* recv, size_t count, ncclDataType_t type, int root, ncclComm_t comm,
                           cudaStream_t) {
  const size_t bytes = count * type_size(type);
  const bool root_here = comm && comm->rank == root;
  if (const ncclResult_t r = prepare(comm, 1, send, root_here ? bytes : 0, recv, bytes, count, type, ncclSum, root))
    return r;
  if (root_here && send != recv && bytes) std::memmove(recv, send, bytes);
#ifdef ALIGN_WITH_MPI
  if (comm->nranks > 1) MPI_Bcast(recv, (int)bytes, MPI_BYTE, root, comm->mpi);
#endif
  return ncclSuccess;
}

ncclResult_t ncclReduceScatter(const void* send, void* recv, size_t count, ncclDataType_t type, ncclRedOp_t op,
                               ncclComm_t comm, cudaStream_t) {
  const size_t bytes = count * type_size(type), ranks = comm ? (size_t)comm->nranks : 1;
  if (const ncclResult_t r = prepare(comm, 2, send, ranks * bytes, recv, bytes, count, type, op, 0)) return r;
  if (comm->nranks == 1) {
    if (send != recv && bytes) std::memmove(recv, send, bytes);
    return ncclSuccess;
  }
#ifdef ALIGN_WITH_MPI
  // The sum lands in a copy first: in NCCL's in-place form recv is send + rank·count, where MPI's
  // in-place form would put it at the start of the buffer.
  std::vector<unsigned char> mine(bytes);
  MPI_Reduce_scatter_block(send, mine.data(), (int)count, mpi_type(type), mpi_op(op), comm->mpi);
  std::memcpy(recv, mine.data(), bytes);
#endif
  return ncclSuccess;
}

ncclResult_t ncclAllGather(const void* send, void* recv, size_t count, ncclDataType_t type, ncclComm_t comm,
                           cudaStream_t) {
  const size_t bytes = count * type_size(type), ranks = comm ? (size_t)comm->nranks : 1;
  if (const ncclResult_t r = prepare(comm, 3, send, bytes, recv, ranks * bytes, count, type, ncclSum, 0)) return r;
  unsigned char* out = static_cast<unsigned char*>(recv);
  if (comm->nranks == 1) {
    if (send != recv && bytes) std::memmove(out, send, bytes);
    return ncclSuccess;
  }
#ifdef ALIGN_WITH_MPI
  const bool in_place = send == out + (size_t)comm->rank * bytes;
  MPI_Allgather(in_place ? MPI_IN_PLACE : send, (int)bytes, MPI_BYTE, out, (int)bytes, MPI_BYTE, comm->mpi);
#endif
  return ncclSuccess;
}
