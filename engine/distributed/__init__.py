"""Multi-worker training of the models trained here (`tf.distribute`)."""
