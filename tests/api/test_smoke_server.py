"""The server answers over real HTTPS on each database."""
def test_create_then_get_round_trips(api, server, namespace):
    base = f"{server.url}/apis/ark.mckinsey.com/v1alpha1/namespaces/{namespace}/queries"
    body = {"apiVersion": "ark.mckinsey.com/v1alpha1", "kind": "Query", "metadata": {"name": "q1"},
            "spec": {"input": "hello", "selector": {"matchLabels": {"app": "test"}}}}
    created = api.post(base, json=body)
    assert created.status_code == 201, created.text
    got = api.get(f"{base}/q1").json()
    assert got["spec"] == {"input": "hello", "selector": {"matchLabels": {"app": "test"}}, "timeout": "5m",
                           "ttl": "720h", "type": "user"}
    assert got["metadata"]["resourceVersion"] == created.json()["metadata"]["resourceVersion"]
