use super::*;

#[test]
fn urls_name_scheme_host_port_and_database_and_hide_credentials() {
    let target = RedisTarget::parse("redis://user:s3cret@cache.internal:6380/2", &[]).unwrap();
    assert_eq!(target.to_string(), "redis://cache.internal:6380/2");
    assert!(!format!("{target:?}").contains("s3cret"));
    assert!(target.url.contains("s3cret"), "the client still gets them");
    let target = RedisTarget::parse("rediss://:pw@cache", &[]).unwrap();
    assert_eq!(target.to_string(), "rediss://cache:6379/0");
    let target = RedisTarget::parse("redis://h:1/0?lease=5s", &["lease"]).unwrap();
    assert_eq!(target.extra(), [("lease".to_owned(), "5s".to_owned())]);
    assert!(!target.url.contains("lease"));
}

#[test]
fn sentinel_urls_name_every_sentinel_the_master_and_the_database() {
    let target = RedisTarget::parse(
        "redis+sentinel://app:p%40ss@s1:26379,s2:26380/mymaster/3?wait=1",
        &["wait"],
    )
    .unwrap();
    assert_eq!(
        target.to_string(),
        "redis+sentinel://s1:26379,s2:26380/mymaster/3"
    );
    let spec = target.sentinel.as_ref().unwrap();
    assert_eq!(spec.password.as_deref(), Some("p@ss"));
    assert_eq!(spec.username.as_deref(), Some("app"));
    assert!(!format!("{target:?}").contains("p@ss"));
    assert_eq!(target.extra(), [("wait".to_owned(), "1".to_owned())]);
    for bad in [
        "redis+sentinel://s1:26379",
        "redis+sentinel://s1:26379/",
        "redis+sentinel://s1/m",
        "redis+sentinel://s1:0/m",
        "redis+sentinel://s1:1,/m",
        "redis+sentinel://s1:1/m/x",
        "redis+sentinel://s1:1/m?ca=/x",
    ] {
        let e = RedisTarget::parse(bad, &["wait"]).expect_err(bad);
        assert!(!e.contains('\n') && !e.is_empty(), "{bad}: {e}");
    }
}

#[test]
fn cluster_urls_name_their_nodes_and_nothing_else() {
    let target = RedisTarget::parse("redis+cluster://u:s3cret@a:7000,b:7001", &[]).unwrap();
    assert_eq!(target.to_string(), "redis+cluster://a:7000,b:7001");
    assert!(target.is_cluster());
    assert!(!format!("{target:?}").contains("s3cret"));
    for bad in [
        "redis+cluster://a:7000/0",
        "redis+cluster://a",
        "redis+cluster://a:7000?ca=/x",
    ] {
        let e = RedisTarget::parse(bad, &[]).expect_err(bad);
        assert!(!e.contains('\n') && !e.is_empty(), "{bad}: {e}");
    }
}

#[test]
fn tls_sentinel_and_cluster_urls_take_the_tls_files() {
    let target = RedisTarget::parse("rediss+cluster://u:s3cret@a:7000,b:7001", &[]).unwrap();
    assert_eq!(target.to_string(), "rediss+cluster://a:7000,b:7001");
    assert!(target.is_cluster() && target.tls.is_some());
    let spec = target.sentinel.as_ref().unwrap();
    assert_eq!(spec.nodes, ["rediss://a:7000", "rediss://b:7001"]);
    let target = RedisTarget::parse("rediss+sentinel://s1:26379/mymaster", &[]).unwrap();
    assert_eq!(target.to_string(), "rediss+sentinel://s1:26379/mymaster/0");
    assert!(target.tls.is_some() && !target.is_cluster());
    assert_ne!(
        target,
        RedisTarget::parse("redis+sentinel://s1:26379/mymaster", &[]).unwrap()
    );
    assert_ne!(
        target,
        RedisTarget::parse("rediss+sentinel://s1:26379/other", &[]).unwrap()
    );
    for bad in [
        "rediss+cluster://a:7000?ca=/nonexistent/ca.pem",
        "rediss+cluster://a:7000?ca=/etc/hostname",
        "rediss+sentinel://s1:26379/m?cert=/nonexistent/c.pem&key=/nonexistent/k.pem",
        "rediss+sentinel://s1:26379/m?bogus=1",
        "redis+sentinel://s1:26379/m?ca=/etc/hostname",
    ] {
        let e = RedisTarget::parse(bad, &[]).expect_err(bad);
        assert!(!e.contains('\n') && !e.is_empty(), "{bad}: {e}");
    }
}

#[test]
fn hash_slots_are_redis_cluster_slots() {
    // The check value of CRC16/XMODEM, and slots Redis documents or answers to
    // CLUSTER KEYSLOT.
    assert_eq!(hash_slot(b"123456789"), 0x31C3);
    assert_eq!(hash_slot(b"foo"), 12182);
    assert_eq!(hash_slot(b"{user1000}.following"), hash_slot(b"user1000"));
    assert_ne!(hash_slot(b"foo{}{bar}"), hash_slot(b"bar"));
    assert_eq!(hash_slot(b"somekey"), 11058);
    assert_eq!(hash_slot(b"{overdue}:jobs"), 10268);
    assert_eq!(hash_slot(b"{overdue}:jobs"), hash_slot(b"overdue"));
}

#[test]
fn tls_files_must_exist_be_readable_and_go_with_rediss() {
    for bad in [
        "rediss://h:1/0?ca=/nonexistent/ca.pem",
        "rediss://h:1/0?cert=/nonexistent/c.pem&key=/nonexistent/k.pem",
        "rediss://h:1/0?ca=",
        "redis://h:1/0?ca=/etc/hostname",
        "rediss://h:1/0?cert=/etc/hostname",
        "rediss://h:1/0?ca=/etc/hostname",
        "rediss://h:1/0?wait=1",
    ] {
        let e = RedisTarget::parse(bad, &[]).expect_err(bad);
        assert!(!e.contains('\n') && !e.is_empty(), "{bad}: {e}");
    }
}
