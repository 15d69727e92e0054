//! Templates-stage cases: each a request and the checks its outcome must
//! pass. The same table runs on the native library and through the wasm
//! module, whose output must also be byte-identical.

use serde_json::{json, Value};

use crate::{
    common_file, hc_v1, hc_v1beta1, request, ssp_entry, ssp_names, status_entry, status_names,
    template, Outcome,
};

/// One case of the table.
pub struct Case {
    pub name: &'static str,
    pub request: Value,
    pub check: fn(&Outcome),
}

const ENABLE: &str = "dataimportcrontemplate.kubevirt.io/enable";
const BIND: &str = "cdi.kubevirt.io/storage.bind.immediate.requested";
const ARCH: &str = "ssp.kubevirt.io/dict.architectures";

fn plan(outcome: &Outcome) -> &Value {
    match outcome {
        Ok(plan) => plan,
        Err(error) => panic!("expected a plan, got error {error}"),
    }
}

fn error(outcome: &Outcome) -> &Value {
    match outcome {
        Ok(plan) => panic!("expected an error, got plan {plan}"),
        Err(error) => error,
    }
}

fn message(outcome: &Outcome) -> String {
    error(outcome)["message"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

fn two_commons() -> Vec<Value> {
    vec![common_file(
        "a.yaml",
        vec![template("image1"), template("image2")],
    )]
}

fn disabled(name: &str) -> Value {
    json!({"metadata": {"name": name, "annotations": {ENABLE: "false"}}})
}

fn with_annotation(mut value: Value, key: &str, val: &str) -> Value {
    value["metadata"]["annotations"][key] = json!(val);
    value
}

fn status_of<'a>(plan: &'a Value, name: &str) -> &'a Value {
    &status_entry(plan, name).unwrap_or_else(|| panic!("{name} missing from status"))["status"]
}

fn ssp_of<'a>(plan: &'a Value, name: &str) -> &'a Value {
    ssp_entry(plan, name).unwrap_or_else(|| panic!("{name} missing from SSP"))
}

fn names(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| s.to_string()).collect()
}

fn gate_case(feature_gate: Option<bool>, field: Option<bool>) -> Value {
    let mut spec = json!({"dataImportCronTemplates": [template("image3")]});
    if let Some(gate) = feature_gate {
        spec["featureGates"] = json!({"enableCommonBootImageImport": gate});
    }
    if let Some(field) = field {
        spec["enableCommonBootImageImport"] = json!(field);
    }
    request(vec![hc_v1beta1(spec)], Some(two_commons()), "1.20")
}

fn multi_arch_hc(
    field: Option<bool>,
    gate: Option<&str>,
    templates: Vec<Value>,
    workloads: &[&str],
) -> Value {
    let mut sources = json!({"dataImportCronTemplates": templates});
    if let Some(field) = field {
        sources["enableMultiArchBootImageImport"] = json!(field);
    }
    let mut hc = hc_v1(sources);
    if let Some(state) = gate {
        hc["spec"]["featureGates"] =
            json!([{"name": "enableMultiArchBootImageImport", "state": state}]);
    }
    hc["status"] = json!({"nodeInfo": {"controlPlaneArchitectures": ["amd64"], "workloadsArchitectures": workloads}});
    hc
}

fn arch_common(name: &str, arch: &str) -> Value {
    with_annotation(template(name), ARCH, arch)
}

fn has_deprecation_warning(plan: &Value) -> bool {
    plan["warnings"].as_array().is_some_and(|w| {
        w.iter()
            .any(|w| w["message"].as_str().unwrap_or("").contains("deprecated"))
    })
}

/// Every case of the table.
pub fn cases() -> Vec<Case> {
    vec![
        Case {
            name: "several common files are merged",
            request: request(
                vec![hc_v1beta1(json!({}))],
                Some(vec![
                    common_file(
                        "a.yaml",
                        vec![
                            template("fedora-image-cron"),
                            template("centos8-image-cron"),
                        ],
                    ),
                    common_file("b.yaml", vec![template("test-is")]),
                ]),
                "1.20",
            ),
            check: |o| {
                assert_eq!(
                    status_names(plan(o)),
                    names(&["centos8-image-cron", "fedora-image-cron", "test-is"])
                )
            },
        },
        Case {
            name: "duplicate common names across files fail",
            request: request(
                vec![hc_v1beta1(json!({}))],
                Some(vec![
                    common_file("a.yaml", vec![template("dup1"), template("dup2")]),
                    common_file("b.yaml", vec![template("dup1"), template("dup2")]),
                ]),
                "1.20",
            ),
            check: |o| {
                let text = message(o);
                assert!(
                    text.contains("duplicate DataImportCronTemplate found: dup1"),
                    "{text}"
                );
                assert!(
                    text.contains("duplicate DataImportCronTemplate found: dup2"),
                    "{text}"
                );
            },
        },
        Case {
            name: "common file that is not a list fails",
            request: request(
                vec![hc_v1beta1(json!({}))],
                Some(vec![
                    json!({"source": "bad.yaml", "templates": {"metadata": {"name": "x"}}}),
                ]),
                "1.20",
            ),
            check: |o| assert!(message(o).contains("not a list"), "{}", message(o)),
        },
        Case {
            name: "missing common files give no common templates",
            request: request(
                vec![hc_v1beta1(
                    json!({"dataImportCronTemplates": [template("image3")]}),
                )],
                Some(vec![]),
                "1.20",
            ),
            check: |o| assert_eq!(status_names(plan(o)), names(&["image3"])),
        },
        Case {
            name: "imagestream common template is kept",
            request: request(
                vec![hc_v1beta1(json!({}))],
                Some(vec![common_file(
                    "is.yaml",
                    vec![json!({
                        "metadata": {"name": "centos-stream9-image-cron-is"},
                        "spec": {"schedule": "0 */12 * * *", "managedDataSource": "centos-stream9-is",
                                 "template": {"spec": {"source": {"registry": {"imageStream": "centos-stream9", "pullMethod": "node"}},
                                                       "storage": {"resources": {"requests": {"storage": "10Gi"}}}}}},
                    })],
                )]),
                "1.20",
            ),
            check: |o| {
                let p = plan(o);
                assert_eq!(
                    p["bootSources"][0]["source"],
                    json!("imagestream:centos-stream9")
                );
                assert_eq!(
                    status_of(p, "centos-stream9-image-cron-is")["commonTemplate"],
                    json!(true)
                );
            },
        },
        Case {
            name: "gate unset means common templates on",
            request: gate_case(None, None),
            check: |o| {
                let p = plan(o);
                assert_eq!(status_names(p), names(&["image1", "image2", "image3"]));
                assert!(!has_deprecation_warning(p));
            },
        },
        Case {
            name: "okd feature gate false turns commons off with warning",
            request: gate_case(Some(false), None),
            check: |o| {
                let p = plan(o);
                assert_eq!(status_names(p), names(&["image3"]));
                assert!(has_deprecation_warning(p));
            },
        },
        Case {
            name: "okd feature gate true keeps commons with warning",
            request: gate_case(Some(true), None),
            check: |o| {
                let p = plan(o);
                assert_eq!(status_names(p), names(&["image1", "image2", "image3"]));
                assert!(has_deprecation_warning(p));
            },
        },
        Case {
            name: "v1beta1 field false turns commons off",
            request: gate_case(None, Some(false)),
            check: |o| {
                let p = plan(o);
                assert_eq!(status_names(p), names(&["image3"]));
                assert!(!has_deprecation_warning(p));
            },
        },
        Case {
            name: "field true beats feature gate false",
            request: gate_case(Some(false), Some(true)),
            check: |o| {
                let p = plan(o);
                assert_eq!(status_names(p), names(&["image1", "image2", "image3"]));
                assert!(has_deprecation_warning(p));
            },
        },
        Case {
            name: "field false beats feature gate true",
            request: gate_case(Some(true), Some(false)),
            check: |o| {
                let p = plan(o);
                assert_eq!(status_names(p), names(&["image3"]));
                assert!(has_deprecation_warning(p));
            },
        },
        Case {
            name: "feature gate is the switch in hco 1.8 without warning",
            request: {
                let mut r = gate_case(Some(false), None);
                r["hcoVersion"] = json!("1.8");
                r
            },
            check: |o| {
                let p = plan(o);
                assert_eq!(status_names(p), names(&["image3"]));
                assert!(!has_deprecation_warning(p));
            },
        },
        Case {
            name: "v1 field false turns commons off",
            request: request(
                vec![hc_v1(
                    json!({"enableCommonBootImageImport": false, "dataImportCronTemplates": [template("image3"), template("image4")]}),
                )],
                Some(two_commons()),
                "1.20",
            ),
            check: |o| {
                let p = plan(o);
                assert_eq!(status_names(p), names(&["image3", "image4"]));
                assert_eq!(status_of(p, "image3"), &json!({}));
                assert_eq!(ssp_names(p), names(&["image3", "image4"]));
            },
        },
        Case {
            name: "switch off with empty spec gives empty result",
            request: request(
                vec![hc_v1(json!({"enableCommonBootImageImport": false}))],
                Some(two_commons()),
                "1.20",
            ),
            check: |o| {
                let p = plan(o);
                assert!(p.pointer("/status/dataImportCronTemplates").is_none());
                assert_eq!(ssp_names(p), Vec::<String>::new());
            },
        },
        Case {
            name: "switch off drops common named entry",
            request: request(
                vec![hc_v1(
                    json!({"enableCommonBootImageImport": false, "dataImportCronTemplates": [template("image1"), template("image3")]}),
                )],
                Some(two_commons()),
                "1.20",
            ),
            check: |o| {
                let p = plan(o);
                assert_eq!(status_names(p), names(&["image3"]));
                assert_eq!(ssp_names(p), names(&["image3"]));
            },
        },
        Case {
            name: "both sources empty omit the status list",
            request: request(vec![hc_v1(json!({}))], Some(vec![]), "1.20"),
            check: |o| {
                let p = plan(o);
                assert!(p.pointer("/status/dataImportCronTemplates").is_none());
                assert!(p.pointer("/status/dataImportSchedule").is_some());
            },
        },
        Case {
            name: "union of common and custom templates",
            request: request(
                vec![hc_v1(
                    json!({"dataImportCronTemplates": [template("image3"), template("image4")]}),
                )],
                Some(two_commons()),
                "1.20",
            ),
            check: |o| {
                let p = plan(o);
                assert_eq!(
                    status_names(p),
                    names(&["image1", "image2", "image3", "image4"])
                );
                assert_eq!(status_of(p, "image1"), &json!({"commonTemplate": true}));
                assert_eq!(status_of(p, "image2"), &json!({"commonTemplate": true}));
                assert_eq!(status_of(p, "image3"), &json!({}));
                assert_eq!(status_of(p, "image4"), &json!({}));
            },
        },
        Case {
            name: "duplicate spec names are rejected",
            request: request(
                vec![hc_v1(
                    json!({"dataImportCronTemplates": [template("my-cron"), template("my-cron")]}),
                )],
                Some(vec![]),
                "1.20",
            ),
            check: |o| {
                let e = error(o);
                assert_eq!(
                    e["message"],
                    json!("my-cron DataImportCronTable is already defined")
                );
                assert_eq!(
                    e["field"],
                    json!("spec.workloadSources.dataImportCronTemplates[1].metadata.name")
                );
            },
        },
        Case {
            name: "duplicate spec names are rejected with switch off",
            request: request(
                vec![hc_v1(
                    json!({"enableCommonBootImageImport": false, "dataImportCronTemplates": [template("image1"), template("image1")]}),
                )],
                Some(two_commons()),
                "1.20",
            ),
            check: |o| assert_eq!(message(o), "image1 DataImportCronTable is already defined"),
        },
        Case {
            name: "common named entry customises in 1.7",
            request: request(
                vec![hc_v1beta1(
                    json!({"dataImportCronTemplates": [template("image1")]}),
                )],
                Some(two_commons()),
                "1.7",
            ),
            check: |o| {
                let p = plan(o);
                assert_eq!(status_names(p), names(&["image1", "image2"]));
                assert_eq!(
                    status_of(p, "image1"),
                    &json!({"commonTemplate": true, "modified": true})
                );
            },
        },
        Case {
            name: "common named entry is rejected in 1.6",
            request: request(
                vec![hc_v1beta1(
                    json!({"dataImportCronTemplates": [template("image1")]}),
                )],
                Some(two_commons()),
                "1.6",
            ),
            check: |o| assert!(message(o).contains("image1"), "{}", message(o)),
        },
        Case {
            name: "output is sorted by name",
            request: request(
                vec![hc_v1(
                    json!({"dataImportCronTemplates": [template("zeta"), template("Alpha"), template("beta")]}),
                )],
                Some(vec![common_file(
                    "a.yaml",
                    vec![template("omega"), template("delta")],
                )]),
                "1.20",
            ),
            check: |o| {
                let p = plan(o);
                let expected = names(&["Alpha", "beta", "delta", "omega", "zeta"]);
                assert_eq!(status_names(p), expected);
                assert_eq!(ssp_names(p), expected);
            },
        },
        Case {
            name: "hco 1.6 keeps file then spec order",
            request: request(
                vec![hc_v1beta1(
                    json!({"dataImportCronTemplates": [template("zeta"), template("beta")]}),
                )],
                Some(vec![common_file(
                    "a.yaml",
                    vec![template("omega"), template("delta")],
                )]),
                "1.6",
            ),
            check: |o| {
                assert_eq!(
                    ssp_names(plan(o)),
                    names(&["omega", "delta", "zeta", "beta"])
                )
            },
        },
        Case {
            name: "invalid enable annotation value is rejected",
            request: request(
                vec![hc_v1(
                    json!({"dataImportCronTemplates": [with_annotation(template("image3"), ENABLE, "wrong")]}),
                )],
                Some(vec![]),
                "1.20",
            ),
            check: |o| {
                let e = error(o);
                assert!(
                    e["message"]
                        .as_str()
                        .unwrap_or("")
                        .contains("must be either \"true\" or \"false\""),
                    "{e}"
                );
                assert_eq!(
                    e["field"],
                    json!("spec.workloadSources.dataImportCronTemplates[0].metadata.annotations[\"dataimportcrontemplate.kubevirt.io/enable\"]")
                );
            },
        },
        Case {
            name: "empty enable annotation value is rejected",
            request: request(
                vec![hc_v1(
                    json!({"dataImportCronTemplates": [with_annotation(template("image3"), ENABLE, "")]}),
                )],
                Some(vec![]),
                "1.20",
            ),
            check: |o| assert!(message(o).contains("must be either"), "{}", message(o)),
        },
        Case {
            name: "enabled entry without spec is rejected",
            request: request(
                vec![hc_v1(
                    json!({"dataImportCronTemplates": [{"metadata": {"name": "image3", "annotations": {ENABLE: "True"}}}]}),
                )],
                Some(vec![]),
                "1.20",
            ),
            check: |o| {
                assert_eq!(
                    message(o),
                    "dataImportCronTemplate spec is empty for an enabled DataImportCronTemplate"
                )
            },
        },
        Case {
            name: "enable annotation any case enables",
            request: request(
                vec![hc_v1(json!({"dataImportCronTemplates": [
                    with_annotation(template("a"), ENABLE, "true"),
                    with_annotation(template("b"), ENABLE, "TRUE"),
                    with_annotation(template("c"), ENABLE, "TrUe"),
                    with_annotation(template("d"), ENABLE, "FaLsE"),
                ]}))],
                Some(vec![]),
                "1.20",
            ),
            check: |o| assert_eq!(status_names(plan(o)), names(&["a", "b", "c"])),
        },
        Case {
            name: "disabled common template is dropped",
            request: request(
                vec![hc_v1(json!({"dataImportCronTemplates": [
                    disabled("image1"),
                    with_annotation(template("image2"), ENABLE, "true"),
                    template("image3"),
                    template("image4"),
                ]}))],
                Some(two_commons()),
                "1.20",
            ),
            check: |o| {
                let p = plan(o);
                assert_eq!(status_names(p), names(&["image2", "image3", "image4"]));
                assert_eq!(
                    status_of(p, "image2"),
                    &json!({"commonTemplate": true, "modified": true})
                );
                assert_eq!(ssp_names(p), names(&["image2", "image3", "image4"]));
            },
        },
        Case {
            name: "disabled custom template is dropped",
            request: request(
                vec![hc_v1(json!({"dataImportCronTemplates": [
                    with_annotation(template("image1"), ENABLE, "false"),
                    with_annotation(template("image2"), ENABLE, "true"),
                ]}))],
                Some(vec![]),
                "1.20",
            ),
            check: |o| {
                let p = plan(o);
                assert_eq!(status_names(p), names(&["image2"]));
                assert_eq!(status_of(p, "image2"), &json!({}));
            },
        },
        Case {
            name: "disabled custom template passes in 1.7",
            request: request(
                vec![hc_v1beta1(
                    json!({"dataImportCronTemplates": [with_annotation(template("image1"), ENABLE, "false"), template("image2")]}),
                )],
                Some(vec![]),
                "1.7",
            ),
            check: |o| assert_eq!(status_names(plan(o)), names(&["image1", "image2"])),
        },
        Case {
            name: "customisation replaces the whole spec",
            request: request(
                vec![hc_v1(json!({"dataImportCronTemplates": [{
                    "metadata": {"name": "image1", "labels": {"ignored": "yes"}},
                    "spec": {"schedule": "5 5 * * *", "managedDataSource": "image1",
                             "retentionPolicy": "All", "garbageCollect": "Outdated", "importsToKeep": 5,
                             "template": {"spec": {"source": {"registry": {"url": "docker://someregistry/anotherURL"}}}}},
                }]}))],
                Some(vec![common_file(
                    "a.yaml",
                    vec![{
                        let mut t = template("image1");
                        t["metadata"]["labels"] = json!({"from": "common"});
                        t
                    }],
                )]),
                "1.20",
            ),
            check: |o| {
                let p = plan(o);
                let entry = status_entry(p, "image1").expect("image1 in status");
                assert_eq!(
                    entry["spec"]["template"]["spec"]["source"]["registry"]["url"],
                    json!("docker://someregistry/anotherURL")
                );
                assert!(entry["spec"]["template"]["spec"].get("storage").is_none());
                assert_eq!(entry["spec"]["retentionPolicy"], json!("All"));
                assert_eq!(entry["spec"]["importsToKeep"], json!(5));
                assert_eq!(entry["spec"]["schedule"], json!("5 5 * * *"));
                assert_eq!(entry["metadata"]["labels"], json!({"from": "common"}));
                assert_eq!(
                    entry["status"],
                    json!({"commonTemplate": true, "modified": true})
                );
            },
        },
        Case {
            name: "identical customisation is still modified",
            request: request(
                vec![hc_v1(
                    json!({"dataImportCronTemplates": [with_annotation(template("image1"), ENABLE, "true")]}),
                )],
                Some(two_commons()),
                "1.20",
            ),
            check: |o| {
                let p = plan(o);
                assert_eq!(status_of(p, "image1")["modified"], json!(true));
                assert_eq!(
                    status_entry(p, "image1").expect("entry")["metadata"]["annotations"][ENABLE],
                    json!("true")
                );
                assert_eq!(
                    ssp_of(p, "image1")["metadata"]["annotations"][ENABLE],
                    json!("true")
                );
            },
        },
        Case {
            name: "empty schedule inherits the cluster schedule",
            request: request(
                vec![{
                    let mut hc = hc_v1(json!({"dataImportCronTemplates": [{
                        "metadata": {"name": "image1"},
                        "spec": {"schedule": "", "managedDataSource": "image1",
                                 "template": {"spec": {"source": {"registry": {"url": "docker://mirror.example/image1:2"}}}}},
                    }, template("image3")]}));
                    hc["status"] = json!({"dataImportSchedule": "17 3/12 * * *"});
                    hc
                }],
                Some(two_commons()),
                "1.20",
            ),
            check: |o| {
                let p = plan(o);
                assert_eq!(
                    status_entry(p, "image1").expect("image1")["spec"]["schedule"],
                    json!("17 3/12 * * *")
                );
                assert_eq!(
                    status_entry(p, "image2").expect("image2")["spec"]["schedule"],
                    json!("17 3/12 * * *")
                );
                assert_eq!(
                    status_entry(p, "image3").expect("image3")["spec"]["schedule"],
                    json!("1 */12 * * *")
                );
            },
        },
        Case {
            name: "storage override replaces storage exactly",
            request: request(
                vec![hc_v1(json!({"dataImportCronTemplates": [{
                    "metadata": {"name": "image1"},
                    "spec": {"managedDataSource": "image1", "schedule": "",
                             "template": {"spec": {"source": {"registry": {"url": "docker://quay.io/test/image1"}},
                                                   "storage": {"volumeName": "another-class-name", "selector": {"matchLabels": {"a": "b"}}}}}},
                }]}))],
                Some(vec![common_file(
                    "a.yaml",
                    vec![{
                        let mut t = template("image1");
                        t["spec"]["template"]["spec"]["storage"] =
                            json!({"volumeName": "volume-name", "storageClassName": "testName"});
                        t
                    }],
                )]),
                "1.20",
            ),
            check: |o| {
                let storage = &status_entry(plan(o), "image1").expect("image1")["spec"]["template"]
                    ["spec"]["storage"];
                assert_eq!(
                    storage,
                    &json!({"volumeName": "another-class-name", "selector": {"matchLabels": {"a": "b"}}})
                );
            },
        },
        Case {
            name: "customised annotations ignored before 1.16",
            request: request(
                vec![hc_v1beta1(
                    json!({"dataImportCronTemplates": [with_annotation(template("image1"), BIND, "false")]}),
                )],
                Some(vec![common_file(
                    "a.yaml",
                    vec![with_annotation(template("image1"), BIND, "true")],
                )]),
                "1.15",
            ),
            check: |o| {
                assert_eq!(
                    ssp_of(plan(o), "image1")["metadata"]["annotations"][BIND],
                    json!("true")
                )
            },
        },
        Case {
            name: "immediate bind on customised commons",
            request: request(
                vec![hc_v1(json!({"dataImportCronTemplates": [
                    with_annotation(template("c1"), BIND, "false"),
                    template("c2"),
                    with_annotation(template("c3"), BIND, "false"),
                    template("c4"),
                ]}))],
                Some(vec![common_file(
                    "a.yaml",
                    vec![
                        with_annotation(template("c1"), BIND, "true"),
                        with_annotation(template("c2"), BIND, "true"),
                        template("c3"),
                        template("c4"),
                    ],
                )]),
                "1.20",
            ),
            check: |o| {
                let p = plan(o);
                assert_eq!(
                    ssp_of(p, "c1")["metadata"]["annotations"][BIND],
                    json!("false")
                );
                assert_eq!(
                    ssp_of(p, "c2")["metadata"]["annotations"][BIND],
                    json!("true")
                );
                assert_eq!(
                    ssp_of(p, "c3")["metadata"]["annotations"][BIND],
                    json!("false")
                );
                assert_eq!(
                    ssp_of(p, "c4")["metadata"]["annotations"][BIND],
                    json!("true")
                );
            },
        },
        Case {
            name: "common boot image namespace applies to unmodified commons",
            request: request(
                vec![hc_v1(json!({
                    "commonBootImageNamespace": "custom-ns",
                    "dataImportCronTemplates": [
                        {"metadata": {"name": "image2", "namespace": "some-other-ns"}, "spec": template("image2")["spec"].clone()},
                        template("image3"),
                    ],
                }))],
                Some(two_commons()),
                "1.20",
            ),
            check: |o| {
                let p = plan(o);
                assert_eq!(
                    status_entry(p, "image1").expect("image1")["metadata"]["namespace"],
                    json!("custom-ns")
                );
                assert_eq!(
                    status_entry(p, "image2").expect("image2")["metadata"]["namespace"],
                    json!("some-other-ns")
                );
                assert!(status_entry(p, "image3").expect("image3")["metadata"]
                    .get("namespace")
                    .is_none());
            },
        },
        Case {
            name: "customised common with empty namespace stays empty",
            request: request(
                vec![hc_v1(
                    json!({"commonBootImageNamespace": "custom-ns", "dataImportCronTemplates": [template("image2")]}),
                )],
                Some(two_commons()),
                "1.20",
            ),
            check: |o| {
                let p = plan(o);
                assert!(ssp_of(p, "image2")["metadata"].get("namespace").is_none());
                assert_eq!(
                    ssp_of(p, "image1")["metadata"]["namespace"],
                    json!("custom-ns")
                );
            },
        },
        Case {
            name: "immediate bind added for ssp not status",
            request: {
                let mut r = request(
                    vec![hc_v1(
                        json!({"dataImportCronTemplates": [with_annotation(template("image3"), BIND, "false"), template("image4")]}),
                    )],
                    Some(vec![common_file(
                        "a.yaml",
                        vec![
                            template("image1"),
                            with_annotation(template("image2"), BIND, "false"),
                        ],
                    )]),
                    "1.20",
                );
                r["admissionDefaults"] = json!(false);
                r
            },
            check: |o| {
                let p = plan(o);
                assert_eq!(
                    ssp_of(p, "image1")["metadata"]["annotations"][BIND],
                    json!("true")
                );
                assert_eq!(
                    ssp_of(p, "image2")["metadata"]["annotations"][BIND],
                    json!("false")
                );
                assert_eq!(
                    ssp_of(p, "image3")["metadata"]["annotations"][BIND],
                    json!("false")
                );
                assert_eq!(
                    ssp_of(p, "image4")["metadata"]["annotations"][BIND],
                    json!("true")
                );
                assert!(status_entry(p, "image1").expect("image1")["metadata"]
                    .get("annotations")
                    .is_none());
                assert!(status_entry(p, "image4").expect("image4")["metadata"]
                    .get("annotations")
                    .is_none());
            },
        },
        Case {
            name: "immediate bind not added before 1.9",
            request: request(
                vec![hc_v1beta1(
                    json!({"dataImportCronTemplates": [template("image3")]}),
                )],
                Some(vec![]),
                "1.8",
            ),
            check: |o| {
                assert!(ssp_of(plan(o), "image3")["metadata"]
                    .get("annotations")
                    .is_none())
            },
        },
        Case {
            name: "admission defaults reach the status",
            request: request(
                vec![hc_v1(
                    json!({"dataImportCronTemplates": [template("image3"), disabled("image1")]}),
                )],
                Some(two_commons()),
                "1.20",
            ),
            check: |o| {
                let entry = status_entry(plan(o), "image3").expect("image3");
                assert_eq!(entry["metadata"]["annotations"][BIND], json!("true"));
                assert_eq!(entry["spec"]["retentionPolicy"], json!("None"));
                assert_eq!(entry["spec"]["importsToKeep"], json!(1));
            },
        },
        Case {
            name: "load time retention defaults from 1.18",
            request: request(
                vec![hc_v1(json!({}))],
                Some(vec![common_file(
                    "a.yaml",
                    vec![template("image1"), {
                        let mut t = template("image2");
                        t["spec"]["retentionPolicy"] = json!("All");
                        t["spec"]["importsToKeep"] = json!(5);
                        t
                    }],
                )]),
                "1.18",
            ),
            check: |o| {
                let p = plan(o);
                assert_eq!(
                    ssp_of(p, "image1")["spec"]["retentionPolicy"],
                    json!("None")
                );
                assert_eq!(ssp_of(p, "image1")["spec"]["importsToKeep"], json!(1));
                assert_eq!(ssp_of(p, "image2")["spec"]["retentionPolicy"], json!("All"));
                assert_eq!(ssp_of(p, "image2")["spec"]["importsToKeep"], json!(5));
            },
        },
        Case {
            name: "no retention defaults before 1.18",
            request: request(
                vec![hc_v1beta1(
                    json!({"dataImportCronTemplates": [template("image3")]}),
                )],
                Some(two_commons()),
                "1.17",
            ),
            check: |o| {
                let p = plan(o);
                assert!(ssp_of(p, "image1")["spec"].get("retentionPolicy").is_none());
                assert!(ssp_of(p, "image3")["spec"].get("importsToKeep").is_none());
            },
        },
        Case {
            name: "derived schedule is written to status",
            request: request(vec![hc_v1(json!({}))], Some(two_commons()), "1.20"),
            check: |o| {
                let p = plan(o);
                let schedule = p["status"]["dataImportSchedule"]
                    .as_str()
                    .expect("schedule")
                    .to_string();
                let fields: Vec<&str> = schedule.split(' ').collect();
                assert_eq!(fields.len(), 5, "{schedule}");
                let minute: u32 = fields[0].parse().expect("minute");
                let hour: u32 = fields[1].trim_end_matches("/12").parse().expect("hour");
                assert!(minute <= 59, "{schedule}");
                assert!(hour <= 11, "{schedule}");
                assert!(fields[1].ends_with("/12"), "{schedule}");
                assert_eq!(&fields[2..], &["*", "*", "*"]);
                assert_eq!(ssp_of(p, "image1")["spec"]["schedule"], json!(schedule));
                let patch = p["actions"]
                    .as_array()
                    .expect("actions")
                    .iter()
                    .find(|a| a["subresource"] == json!("status"));
                assert_eq!(
                    patch.expect("status patch")["patch"]["status"]["dataImportSchedule"],
                    json!(schedule)
                );
            },
        },
        Case {
            name: "stored schedule is authoritative",
            request: request(
                vec![{
                    let mut hc = hc_v1(json!({"dataImportCronTemplates": [template("image3")]}));
                    hc["status"] = json!({"dataImportSchedule": "42 5/12 * * *"});
                    hc
                }],
                Some(two_commons()),
                "1.20",
            ),
            check: |o| {
                let p = plan(o);
                assert_eq!(p["status"]["dataImportSchedule"], json!("42 5/12 * * *"));
                assert_eq!(
                    ssp_of(p, "image1")["spec"]["schedule"],
                    json!("42 5/12 * * *")
                );
                assert_eq!(
                    ssp_of(p, "image3")["spec"]["schedule"],
                    json!("1 */12 * * *")
                );
                let patch = p["actions"]
                    .as_array()
                    .expect("actions")
                    .iter()
                    .find(|a| a["subresource"] == json!("status"));
                assert!(patch.expect("status patch")["patch"]["status"]
                    .get("dataImportSchedule")
                    .is_none());
            },
        },
        Case {
            name: "status already current needs no patch",
            request: {
                let first = crate::plan_native(&request(
                    vec![hc_v1(json!({}))],
                    Some(two_commons()),
                    "1.20",
                ))
                .expect("plan");
                let mut hc = hc_v1(json!({}));
                hc["status"] = first["status"].clone();
                let ssp = first["actions"]
                    .as_array()
                    .expect("actions")
                    .iter()
                    .find(|a| a["object"]["kind"] == json!("SSP"))
                    .expect("ssp")["body"]
                    .clone();
                request(vec![hc, ssp], Some(two_commons()), "1.20")
            },
            check: |o| assert_eq!(plan(o)["actions"], json!([])),
        },
        Case {
            name: "edited ssp templates are overwritten",
            request: {
                let first = crate::plan_native(&request(
                    vec![hc_v1(json!({}))],
                    Some(two_commons()),
                    "1.20",
                ))
                .expect("plan");
                let mut hc = hc_v1(json!({}));
                hc["status"] = first["status"].clone();
                let mut ssp = first["actions"]
                    .as_array()
                    .expect("actions")
                    .iter()
                    .find(|a| a["object"]["kind"] == json!("SSP"))
                    .expect("ssp")["body"]
                    .clone();
                ssp["spec"]["commonTemplates"]["dataImportCronTemplates"][0]["spec"]["schedule"] =
                    json!("* * * * *");
                request(vec![hc, ssp], Some(two_commons()), "1.20")
            },
            check: |o| {
                let p = plan(o);
                assert_eq!(ssp_names(p), names(&["image1", "image2"]));
                assert_ne!(ssp_of(p, "image1")["spec"]["schedule"], json!("* * * * *"));
            },
        },
        Case {
            name: "multi arch switch resolution",
            request: request(
                vec![multi_arch_hc(
                    None,
                    Some("Enabled"),
                    vec![],
                    &["amd64", "arm64"],
                )],
                Some(vec![common_file(
                    "a.yaml",
                    vec![arch_common("image1", "amd64,s390x")],
                )]),
                "1.20",
            ),
            check: |o| {
                assert_eq!(
                    ssp_of(plan(o), "image1")["metadata"]["annotations"][ARCH],
                    json!("amd64")
                )
            },
        },
        Case {
            name: "multi arch field false beats enabled gate",
            request: request(
                vec![multi_arch_hc(
                    Some(false),
                    Some("Enabled"),
                    vec![],
                    &["amd64", "arm64"],
                )],
                Some(vec![common_file(
                    "a.yaml",
                    vec![arch_common("image1", "amd64,s390x")],
                )]),
                "1.20",
            ),
            check: |o| {
                let p = plan(o);
                assert!(ssp_of(p, "image1")["metadata"]["annotations"]
                    .get(ARCH)
                    .is_none());
                assert_eq!(
                    status_entry(p, "image1").expect("image1")["metadata"]["annotations"][ARCH],
                    json!("amd64,s390x")
                );
                assert!(status_of(p, "image1")
                    .get("originalSupportedArchitectures")
                    .is_none());
                assert_eq!(
                    p["actions"]
                        .as_array()
                        .expect("actions")
                        .iter()
                        .find(|a| a["object"]["kind"] == json!("SSP"))
                        .expect("ssp")["body"]["spec"]["enableMultipleArchitectures"],
                    json!(false)
                );
            },
        },
        Case {
            name: "multi arch field true beats disabled gate",
            request: request(
                vec![multi_arch_hc(
                    Some(true),
                    Some("Disabled"),
                    vec![],
                    &["amd64", "arm64"],
                )],
                Some(vec![common_file(
                    "a.yaml",
                    vec![arch_common("image1", "amd64,s390x")],
                )]),
                "1.20",
            ),
            check: |o| {
                let p = plan(o);
                assert_eq!(
                    ssp_of(p, "image1")["metadata"]["annotations"][ARCH],
                    json!("amd64")
                );
                assert_eq!(
                    status_of(p, "image1")["originalSupportedArchitectures"],
                    json!("amd64,s390x")
                );
            },
        },
        Case {
            name: "multi arch off when nothing set",
            request: request(
                vec![multi_arch_hc(None, None, vec![], &["amd64", "arm64"])],
                Some(vec![common_file(
                    "a.yaml",
                    vec![arch_common("image1", "amd64,s390x")],
                )]),
                "1.20",
            ),
            check: |o| {
                assert!(ssp_of(plan(o), "image1")["metadata"]["annotations"]
                    .get(ARCH)
                    .is_none())
            },
        },
        Case {
            name: "template without supported architecture stays out of ssp",
            request: request(
                vec![multi_arch_hc(Some(true), None, vec![], &["amd64", "s390x"])],
                Some(vec![common_file(
                    "a.yaml",
                    vec![
                        template("image1"),
                        arch_common("image2", "arm64"),
                        template("image3"),
                        arch_common("image4", "arm64"),
                    ],
                )]),
                "1.20",
            ),
            check: |o| {
                let p = plan(o);
                assert_eq!(
                    status_names(p),
                    names(&["image1", "image2", "image3", "image4"])
                );
                assert_eq!(ssp_names(p), names(&["image1", "image3"]));
                let status = status_of(p, "image2");
                assert_eq!(status["originalSupportedArchitectures"], json!("arm64"));
                assert_eq!(status["conditions"][0]["type"], json!("Deployed"));
                assert_eq!(status["conditions"][0]["status"], json!("False"));
                assert_eq!(
                    status["conditions"][0]["reason"],
                    json!("UnsupportedArchitectures")
                );
                assert_eq!(status["conditions"][0]["message"], json!("DataImportCronTemplate has no supported architectures for the current cluster"));
                assert_eq!(
                    status_entry(p, "image2").expect("image2")["metadata"]["annotations"][ARCH],
                    json!("")
                );
                assert!(status_of(p, "image1")
                    .get("originalSupportedArchitectures")
                    .is_none());
            },
        },
        Case {
            name: "customised architecture annotation follows the registry",
            request: request(
                vec![multi_arch_hc(
                    Some(true),
                    None,
                    vec![
                        // same registry: the common's architectures win
                        arch_common("same", "s390x"),
                        // another registry: the entry's architectures
                        {
                            let mut t = arch_common("moved", "arm64");
                            t["spec"]["template"]["spec"]["source"]["registry"]["url"] =
                                json!("docker://mirror.example/moved");
                            t
                        },
                        // another registry without the annotation: none
                        {
                            let mut t = template("bare");
                            t["spec"]["template"]["spec"]["source"]["registry"]["url"] =
                                json!("docker://mirror.example/bare");
                            t
                        },
                        // no source at all: counts as unchanged and does not fail
                        json!({"metadata": {"name": "nosource"}, "spec": {"schedule": "", "managedDataSource": "nosource", "template": {"spec": {}}}}),
                    ],
                    &["amd64", "arm64"],
                )],
                Some(vec![common_file(
                    "a.yaml",
                    vec![
                        arch_common("same", "amd64,arm64"),
                        arch_common("moved", "amd64"),
                        arch_common("bare", "amd64"),
                        arch_common("nosource", "amd64"),
                    ],
                )]),
                "1.20",
            ),
            check: |o| {
                let p = plan(o);
                assert_eq!(
                    ssp_of(p, "same")["metadata"]["annotations"][ARCH],
                    json!("amd64,arm64")
                );
                assert_eq!(
                    ssp_of(p, "moved")["metadata"]["annotations"][ARCH],
                    json!("arm64")
                );
                assert!(ssp_of(p, "bare")["metadata"]["annotations"]
                    .get(ARCH)
                    .is_none());
                assert_eq!(
                    ssp_of(p, "nosource")["metadata"]["annotations"][ARCH],
                    json!("amd64")
                );
            },
        },
        Case {
            name: "ssp gets cluster architectures",
            request: request(
                vec![multi_arch_hc(Some(true), None, vec![], &["amd64", "arm64"])],
                Some(vec![]),
                "1.20",
            ),
            check: |o| {
                let p = plan(o);
                let ssp = p["actions"]
                    .as_array()
                    .expect("actions")
                    .iter()
                    .find(|a| a["object"]["kind"] == json!("SSP"))
                    .expect("ssp");
                assert_eq!(
                    ssp["body"]["spec"]["cluster"],
                    json!({"controlPlaneArchitectures": ["amd64"], "workloadArchitectures": ["amd64", "arm64"]})
                );
                assert_eq!(
                    ssp["body"]["spec"]["enableMultipleArchitectures"],
                    json!(true)
                );
                assert_eq!(
                    ssp["object"]["apiVersion"],
                    json!("ssp.kubevirt.io/v1beta3")
                );
            },
        },
        Case {
            name: "ssp target object and namespaces",
            request: request(
                vec![{
                    let mut hc = hc_v1beta1(json!({"commonTemplatesNamespace": "vm-templates"}));
                    hc["metadata"]["namespace"] = json!("openshift-cnv");
                    hc
                }],
                Some(two_commons()),
                "1.8",
            ),
            check: |o| {
                let p = plan(o);
                let ssp = p["actions"]
                    .as_array()
                    .expect("actions")
                    .iter()
                    .find(|a| a["object"]["kind"] == json!("SSP"))
                    .expect("ssp");
                assert_eq!(ssp["action"], json!("apply"));
                assert_eq!(
                    ssp["object"],
                    json!({"apiVersion": "ssp.kubevirt.io/v1beta1", "kind": "SSP", "namespace": "openshift-cnv", "name": "ssp-kubevirt-hyperconverged"})
                );
                assert_eq!(
                    ssp["body"]["spec"]["commonTemplates"]["namespace"],
                    json!("vm-templates")
                );
                assert!(ssp["body"]["spec"]
                    .get("enableMultipleArchitectures")
                    .is_none());
                assert!(ssp_of(p, "image1").get("status").is_none());
            },
        },
        Case {
            name: "v1 and v1beta1 forms give the same templates",
            request: request(
                vec![hc_v1(
                    json!({"commonBootImageNamespace": "ns1", "dataImportCronTemplates": [template("image3"), disabled("image1")]}),
                )],
                Some(two_commons()),
                "1.20",
            ),
            check: |o| {
                let v1 = plan(o);
                let beta = crate::plan_native(&request(
                    vec![hc_v1beta1(json!({"commonBootImageNamespace": "ns1", "dataImportCronTemplates": [template("image3"), disabled("image1")]}))],
                    Some(two_commons()),
                    "1.20",
                ))
                .expect("v1beta1 plan");
                assert_eq!(v1["status"], beta["status"]);
                assert_eq!(ssp_names(v1), ssp_names(&beta));
            },
        },
        Case {
            name: "disable only entry without spec is accepted",
            request: request(
                vec![hc_v1(
                    json!({"dataImportCronTemplates": [disabled("centos-stream9-image-cron")]}),
                )],
                None,
                "1.20",
            ),
            check: |o| {
                let p = plan(o);
                assert_eq!(
                    status_names(p),
                    names(&["centos-stream10-image-cron", "fedora-image-cron"])
                );
                assert_eq!(
                    status_of(p, "fedora-image-cron"),
                    &json!({"commonTemplate": true})
                );
            },
        },
        Case {
            name: "customising fedora changes url storage and namespace",
            request: request(
                vec![{
                    let mut hc = hc_v1beta1(
                        json!({"commonBootImageNamespace": "golden", "dataImportCronTemplates": [{
                            "metadata": {"name": "fedora-image-cron", "namespace": "custom-ns"},
                            "spec": {"managedDataSource": "fedora", "schedule": "",
                                     "template": {"spec": {"source": {"registry": {"url": "docker://mirror.example/fedora:41"}},
                                                           "storage": {"resources": {"requests": {"storage": "20Gi"}}}}}},
                        }]}),
                    );
                    hc["status"] = json!({"dataImportSchedule": "17 3/12 * * *"});
                    hc
                }],
                None,
                "1.20",
            ),
            check: |o| {
                let p = plan(o);
                let fedora = status_entry(p, "fedora-image-cron").expect("fedora");
                assert_eq!(
                    fedora["spec"]["template"]["spec"]["source"]["registry"]["url"],
                    json!("docker://mirror.example/fedora:41")
                );
                assert_eq!(
                    fedora["spec"]["template"]["spec"]["storage"]["resources"]["requests"]
                        ["storage"],
                    json!("20Gi")
                );
                assert_eq!(fedora["spec"]["schedule"], json!("17 3/12 * * *"));
                assert_eq!(fedora["metadata"]["namespace"], json!("custom-ns"));
                assert_eq!(
                    fedora["status"],
                    json!({"commonTemplate": true, "modified": true})
                );
                assert_eq!(
                    status_entry(p, "centos-stream9-image-cron").expect("cs9")["metadata"]
                        ["namespace"],
                    json!("golden")
                );
            },
        },
        Case {
            name: "customising a common template keeps one entry",
            request: request(
                vec![hc_v1beta1(json!({"dataImportCronTemplates": [{
                    "metadata": {"name": "fedora-image-cron"},
                    "spec": {"managedDataSource": "fedora", "schedule": "0 1 * * *",
                             "template": {"spec": {"source": {"registry": {"url": "docker://quay.io/containerdisks/fedora:latest"}}}}},
                }]}))],
                None,
                "1.20",
            ),
            check: |o| {
                let p = plan(o);
                let count = status_names(p)
                    .iter()
                    .filter(|n| *n == "fedora-image-cron")
                    .count();
                assert_eq!(count, 1);
                assert_eq!(
                    status_of(p, "fedora-image-cron"),
                    &json!({"commonTemplate": true, "modified": true})
                );
                assert_eq!(
                    ssp_of(p, "fedora-image-cron")["spec"]["schedule"],
                    json!("0 1 * * *")
                );
            },
        },
        Case {
            name: "template without name is rejected",
            request: request(
                vec![hc_v1(
                    json!({"dataImportCronTemplates": [{"metadata": {}, "spec": template("x")["spec"].clone()}]}),
                )],
                Some(vec![]),
                "1.20",
            ),
            check: |o| {
                let e = error(o);
                assert_eq!(
                    e["field"],
                    json!("spec.workloadSources.dataImportCronTemplates[0].metadata.name")
                );
                assert!(
                    e["message"].as_str().unwrap_or("").contains("no name"),
                    "{e}"
                );
            },
        },
        Case {
            name: "template metadata survives a round trip",
            request: request(
                vec![hc_v1(json!({"dataImportCronTemplates": [{
                    "metadata": {"name": "my-cron", "annotations": {"a.example/x": "1", BIND: "false"}, "labels": {"l.example/y": "2"}},
                    "spec": template("my-cron")["spec"].clone(),
                }]}))],
                Some(vec![]),
                "1.20",
            ),
            check: |o| {
                let entry = ssp_of(plan(o), "my-cron");
                assert_eq!(entry["metadata"]["name"], json!("my-cron"));
                assert_eq!(
                    entry["metadata"]["annotations"],
                    json!({"a.example/x": "1", BIND: "false"})
                );
                assert_eq!(entry["metadata"]["labels"], json!({"l.example/y": "2"}));
            },
        },
        Case {
            name: "every ssp template asks for immediate bind",
            request: request(
                vec![hc_v1beta1(json!({"dataImportCronTemplates": [
                    {"metadata": {"name": "custom-cron"}, "spec": {"managedDataSource": "custom", "schedule": "0 0 * * *",
                        "template": {"spec": {"source": {"registry": {"url": "docker://r.example/img:1"}}}}}},
                    with_annotation(template("custom-cron2"), BIND, "false"),
                ]}))],
                None,
                "1.20",
            ),
            check: |o| {
                let p = plan(o);
                for name in ssp_names(p) {
                    let expected = if name == "custom-cron2" {
                        "false"
                    } else {
                        "true"
                    };
                    assert_eq!(
                        ssp_of(p, &name)["metadata"]["annotations"][BIND],
                        json!(expected),
                        "{name}"
                    );
                }
            },
        },
        Case {
            name: "common templates get retention defaults",
            request: request(
                vec![hc_v1(json!({"dataImportCronTemplates": [template("u1")]}))],
                None,
                "1.20",
            ),
            check: |o| {
                let p = plan(o);
                for name in ["fedora-image-cron", "u1"] {
                    assert_eq!(
                        ssp_of(p, name)["spec"]["retentionPolicy"],
                        json!("None"),
                        "{name}"
                    );
                    assert_eq!(ssp_of(p, name)["spec"]["importsToKeep"], json!(1), "{name}");
                }
            },
        },
        Case {
            name: "annotation that is not a string is rejected",
            request: request(
                vec![hc_v1beta1(
                    json!({"dataImportCronTemplates": [{"metadata": {"name": "x", "annotations": {ENABLE: false}}}]}),
                )],
                Some(vec![]),
                "1.20",
            ),
            check: |o| {
                let e = error(o);
                assert_eq!(e["field"], json!("spec.dataImportCronTemplates[0].metadata.annotations[\"dataimportcrontemplate.kubevirt.io/enable\"]"));
                assert!(e["hint"].as_str().unwrap_or("").contains("quote"), "{e}");
                assert_eq!(e["object"]["kind"], json!("HyperConverged"));
            },
        },
        Case {
            name: "field of the wrong type is rejected",
            request: request(
                vec![hc_v1beta1(
                    json!({"dataImportCronTemplates": [{"metadata": {"name": "x"}, "spec": {"importsToKeep": "three", "managedDataSource": "x"}}]}),
                )],
                Some(vec![]),
                "1.20",
            ),
            check: |o| {
                assert_eq!(
                    error(o)["field"],
                    json!("spec.dataImportCronTemplates[0].spec.importsToKeep")
                )
            },
        },
        Case {
            name: "unknown template spec field is rejected",
            request: request(
                vec![hc_v1beta1(
                    json!({"dataImportCronTemplates": [{"metadata": {"name": "x"}, "spec": {"scheduel": "0 0 * * *", "managedDataSource": "x"}}]}),
                )],
                Some(vec![]),
                "1.20",
            ),
            check: |o| {
                let e = error(o);
                assert!(
                    e["message"]
                        .as_str()
                        .unwrap_or("")
                        .contains("unknown field `scheduel`"),
                    "{e}"
                );
                assert_eq!(
                    e["field"],
                    json!("spec.dataImportCronTemplates[0].spec.scheduel")
                );
            },
        },
        Case {
            name: "unknown kind is skipped with a warning",
            request: request(
                vec![
                    hc_v1(json!({})),
                    json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "x"}}),
                ],
                Some(vec![]),
                "1.20",
            ),
            check: |o| {
                let warnings = plan(o)["warnings"].as_array().cloned().unwrap_or_default();
                let skipped: Vec<&Value> = warnings
                    .iter()
                    .filter(|w| w["field"] == json!("objects"))
                    .collect();
                assert_eq!(skipped.len(), 1, "{warnings:?}");
                let text = skipped[0]["message"].as_str().unwrap_or("");
                assert!(text.contains("1 ConfigMap (v1)"), "{text}");
            },
        },
        Case {
            name: "known kind in another API group is rejected",
            request: request(
                vec![
                    json!({"apiVersion": "example.com/v1", "kind": "DataSource", "metadata": {"name": "x"}}),
                ],
                Some(vec![]),
                "1.20",
            ),
            check: |o| {
                let e = error(o);
                assert_eq!(e["field"], json!("apiVersion"));
                assert_eq!(e["objectIndex"], json!(0));
            },
        },
        Case {
            name: "unknown api version is rejected",
            request: request(
                vec![
                    json!({"apiVersion": "hco.kubevirt.io/v2", "kind": "HyperConverged", "metadata": {"name": "x"}}),
                ],
                Some(vec![]),
                "1.20",
            ),
            check: |o| assert_eq!(error(o)["field"], json!("apiVersion")),
        },
        Case {
            name: "invalid hco version is rejected",
            request: request(vec![hc_v1(json!({}))], Some(vec![]), "2.0"),
            check: |o| assert_eq!(error(o)["field"], json!("hcoVersion")),
        },
        Case {
            name: "no hyperconverged is rejected",
            request: request(vec![], Some(vec![]), "1.20"),
            check: |o| assert!(message(o).contains("no HyperConverged"), "{}", message(o)),
        },
    ]
}
