if (args is ["rules", "check", ..]) return Sensor.Rules.RulesCheckCommand.Run(args[2..], Console.Out);

// The node agent: kernel programs, process tree, container context, rules, spool and delivery, /metrics.
return await Sensor.Hosting.SensorHost.RunAsync(args);
