#!/usr/bin/python3
"""tests/kafka/topics.py: create and delete topics on the test broker.

    topics.py BROKERS create NAME PARTITIONS
    topics.py BROKERS delete-prefix PREFIX

kcat cannot create topics, and a consumer subscribed to a topic that does
not exist yet may not see it for minutes (metadata refresh), so the tests
create theirs first (tests/lib.sh: kafka_new_topic).  `create` returns once
every partition has a leader; creating a topic that exists with the same
partition count is not an error.  Uses Debian's python3-confluent-kafka
(librdkafka's admin API), hence /usr/bin/python3 and not whatever python3
comes first on PATH.  Exit 0 done, 1 failure (message on stderr), 2 usage.
"""
import sys
import time

from confluent_kafka import KafkaException
from confluent_kafka.admin import AdminClient, NewTopic


def die(msg):
    sys.stderr.write("topics.py: %s\n" % msg)
    sys.exit(1)


def wait_for_leaders(admin, name, partitions, timeout=60):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        md = admin.list_topics(topic=name, timeout=10)
        t = md.topics.get(name)
        if t is not None and t.error is None and len(t.partitions) == partitions \
                and all(p.leader >= 0 for p in t.partitions.values()):
            return
        time.sleep(0.1)
    die("topic %s: no leader for all %d partitions after %d s" % (name, partitions, timeout))


def create(admin, name, partitions):
    futures = admin.create_topics([NewTopic(name, num_partitions=partitions, replication_factor=1)],
                                  operation_timeout=30, request_timeout=60)
    try:
        futures[name].result()
    except KafkaException as e:
        err = e.args[0]
        if err.name() != "TOPIC_ALREADY_EXISTS":
            die("cannot create topic %s: %s" % (name, err.str()))
        have = admin.list_topics(topic=name, timeout=10).topics[name].partitions
        if len(have) != partitions:
            die("topic %s exists with %d partitions, not %d" % (name, len(have), partitions))
    wait_for_leaders(admin, name, partitions)


def delete_prefix(admin, prefix):
    names = [t for t in admin.list_topics(timeout=10).topics if t.startswith(prefix)]
    if not names:
        return
    for name, f in admin.delete_topics(names, operation_timeout=30, request_timeout=60).items():
        try:
            f.result()
        except KafkaException as e:
            if e.args[0].name() != "UNKNOWN_TOPIC_OR_PART":
                die("cannot delete topic %s: %s" % (name, e.args[0].str()))


def main(argv):
    if len(argv) < 3:
        sys.stderr.write(__doc__)
        return 2
    admin = AdminClient({"bootstrap.servers": argv[1]})
    if argv[2] == "create" and len(argv) == 5 and argv[4].isdigit() and int(argv[4]) > 0:
        create(admin, argv[3], int(argv[4]))
    elif argv[2] == "delete-prefix" and len(argv) == 4 and argv[3]:
        delete_prefix(admin, argv[3])
    else:
        sys.stderr.write(__doc__)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
