# fish completion for cdc-source-kafka
complete -c cdc-source-kafka -f
complete -c cdc-source-kafka -s g -l group -x -d 'the consumer group'
complete -c cdc-source-kafka -s t -l topic -x -d 'topics to read, an anchored regular expression'
complete -c cdc-source-kafka -s e -l exit-at-end -d 'exit once every assigned partition is read to its end'
complete -c cdc-source-kafka -l debezium -d "the topics are Debezium's: add key and position to each record"
complete -c cdc-source-kafka -s a -l ack-file -r -F -d "the downstream sink's checkpoint FILE"
complete -c cdc-source-kafka -l ack-interval -x -d 'look at the ack file this often'
complete -c cdc-source-kafka -l drain-timeout -x -d 'in a rebalance, wait this long for the sink'
complete -c cdc-source-kafka -l max-queued -x -d 'messages held per partition for the merge'
complete -c cdc-source-kafka -s b -l brokers -x -d 'bootstrap brokers host:port,...'
complete -c cdc-source-kafka -s X -l property -x -d 'a librdkafka property NAME=VALUE (no secrets)'
complete -c cdc-source-kafka -l kafka-config -r -F -d 'librdkafka properties FILE'
complete -c cdc-source-kafka -l stats -d 'counters and lag on stderr every 10 s and at exit'
complete -c cdc-source-kafka -l metrics-file -r -F -d 'Prometheus metrics FILE'
complete -c cdc-source-kafka -l dead-letter -r -F -d 'append bad messages to FILE'
complete -c cdc-source-kafka -l skip-bad -d 'count bad messages and go on'
complete -c cdc-source-kafka -l max-line -x -d 'longest message accepted'
complete -c cdc-source-kafka -s v -l verbose -d 'more messages'
complete -c cdc-source-kafka -s q -l quiet -d 'no warnings'
complete -c cdc-source-kafka -s h -l help -d 'show help'
complete -c cdc-source-kafka -s V -l version -d 'show version'
