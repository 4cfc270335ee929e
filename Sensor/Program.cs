if (args is ["rules", "check", ..]) return Sensor.Rules.RulesCheckCommand.Run(args[2..], Console.Out);

Console.Error.WriteLine("sensor: not built yet");
return 2;
