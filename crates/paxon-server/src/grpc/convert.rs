//! Protobuf ↔ state machine types, field for field.

use paxon_kv as kv;
use paxon_kv::{LeaseId, Revision};
use paxon_proto::etcdserverpb as pb;
use paxon_proto::mvccpb;

pub fn range_request(r: pb::RangeRequest) -> kv::RangeRequest {
    kv::RangeRequest {
        sort_order: match r.sort_order() {
            pb::range_request::SortOrder::None => kv::SortOrder::None,
            pb::range_request::SortOrder::Ascend => kv::SortOrder::Ascend,
            pb::range_request::SortOrder::Descend => kv::SortOrder::Descend,
        },
        sort_target: match r.sort_target() {
            pb::range_request::SortTarget::Key => kv::SortTarget::Key,
            pb::range_request::SortTarget::Version => kv::SortTarget::Version,
            pb::range_request::SortTarget::Create => kv::SortTarget::Create,
            pb::range_request::SortTarget::Mod => kv::SortTarget::Mod,
            pb::range_request::SortTarget::Value => kv::SortTarget::Value,
        },
        key: r.key,
        range_end: r.range_end,
        limit: r.limit,
        revision: Revision(r.revision),
        serializable: r.serializable,
        keys_only: r.keys_only,
        count_only: r.count_only,
        min_mod_revision: Revision(r.min_mod_revision),
        max_mod_revision: Revision(r.max_mod_revision),
        min_create_revision: Revision(r.min_create_revision),
        max_create_revision: Revision(r.max_create_revision),
    }
}

pub fn put_request(r: pb::PutRequest) -> kv::PutRequest {
    kv::PutRequest {
        key: r.key,
        value: r.value,
        lease: LeaseId(r.lease),
        prev_kv: r.prev_kv,
        ignore_value: r.ignore_value,
        ignore_lease: r.ignore_lease,
    }
}

pub fn delete_request(r: pb::DeleteRangeRequest) -> kv::DeleteRangeRequest {
    kv::DeleteRangeRequest {
        key: r.key,
        range_end: r.range_end,
        prev_kv: r.prev_kv,
    }
}

pub fn txn_request(r: pb::TxnRequest) -> Result<kv::TxnRequest, &'static str> {
    Ok(kv::TxnRequest {
        compare: r
            .compare
            .into_iter()
            .map(compare)
            .collect::<Result<_, _>>()?,
        success: r
            .success
            .into_iter()
            .map(request_op)
            .collect::<Result<_, _>>()?,
        failure: r
            .failure
            .into_iter()
            .map(request_op)
            .collect::<Result<_, _>>()?,
    })
}

fn compare(c: pb::Compare) -> Result<kv::Compare, &'static str> {
    use pb::compare::{CompareResult as R, CompareTarget as T, TargetUnion as U};
    let result = match c.result() {
        R::Equal => kv::CompareResult::Equal,
        R::Greater => kv::CompareResult::Greater,
        R::Less => kv::CompareResult::Less,
        R::NotEqual => kv::CompareResult::NotEqual,
    };
    let target = match (c.target(), c.target_union) {
        (T::Version, Some(U::Version(v))) => kv::CompareTarget::Version(v),
        (T::Version, None) => kv::CompareTarget::Version(0),
        (T::Create, Some(U::CreateRevision(v))) => kv::CompareTarget::Create(Revision(v)),
        (T::Create, None) => kv::CompareTarget::Create(Revision(0)),
        (T::Mod, Some(U::ModRevision(v))) => kv::CompareTarget::Mod(Revision(v)),
        (T::Mod, None) => kv::CompareTarget::Mod(Revision(0)),
        (T::Value, Some(U::Value(v))) => kv::CompareTarget::Value(v),
        (T::Value, None) => kv::CompareTarget::Value(Vec::new()),
        (T::Lease, Some(U::Lease(v))) => kv::CompareTarget::Lease(LeaseId(v)),
        (T::Lease, None) => kv::CompareTarget::Lease(LeaseId(0)),
        _ => return Err("etcdserver: compare target does not match its value"),
    };
    Ok(kv::Compare {
        result,
        target,
        key: c.key,
        range_end: c.range_end,
    })
}

fn request_op(op: pb::RequestOp) -> Result<kv::RequestOp, &'static str> {
    use pb::request_op::Request;
    match op.request {
        Some(Request::RequestRange(r)) => Ok(kv::RequestOp::Range(range_request(r))),
        Some(Request::RequestPut(r)) => Ok(kv::RequestOp::Put(put_request(r))),
        Some(Request::RequestDeleteRange(r)) => Ok(kv::RequestOp::DeleteRange(delete_request(r))),
        Some(Request::RequestTxn(r)) => Ok(kv::RequestOp::Txn(txn_request(r)?)),
        None => Err("etcdserver: empty operation in txn request"),
    }
}

pub fn key_value(kv: kv::KeyValue) -> mvccpb::KeyValue {
    mvccpb::KeyValue {
        key: kv.key,
        create_revision: kv.create_revision.0,
        mod_revision: kv.mod_revision.0,
        version: kv.version,
        value: kv.value,
        lease: kv.lease.0,
    }
}

pub fn range_response(r: kv::RangeResponse, header: pb::ResponseHeader) -> pb::RangeResponse {
    pb::RangeResponse {
        header: Some(header),
        kvs: r.kvs.into_iter().map(key_value).collect(),
        more: r.more,
        count: r.count,
    }
}

pub fn put_response(r: kv::PutResponse, header: pb::ResponseHeader) -> pb::PutResponse {
    pb::PutResponse {
        header: Some(header),
        prev_kv: r.prev_kv.map(key_value),
    }
}

pub fn delete_response(
    r: kv::DeleteRangeResponse,
    header: pb::ResponseHeader,
) -> pb::DeleteRangeResponse {
    pb::DeleteRangeResponse {
        header: Some(header),
        deleted: r.deleted,
        prev_kvs: r.prev_kvs.into_iter().map(key_value).collect(),
    }
}

/// Nested responses carry a header with the same revision (as in etcd).
pub fn txn_response(r: kv::TxnResponse, header: pb::ResponseHeader) -> pb::TxnResponse {
    use pb::response_op::Response;
    let responses = r
        .responses
        .into_iter()
        .map(|op| pb::ResponseOp {
            response: Some(match op {
                kv::ResponseOp::Range(r) => Response::ResponseRange(range_response(r, header)),
                kv::ResponseOp::Put(r) => Response::ResponsePut(put_response(r, header)),
                kv::ResponseOp::DeleteRange(r) => {
                    Response::ResponseDeleteRange(delete_response(r, header))
                }
                kv::ResponseOp::Txn(r) => Response::ResponseTxn(txn_response(r, header)),
            }),
        })
        .collect();
    pb::TxnResponse {
        header: Some(header),
        succeeded: r.succeeded,
        responses,
    }
}
