	imagenet-tc: {
		name: "imagenet-tc",
		description:
			"ImageNet-TC scores image classifiers on text-guided corruptions of ImageNet validation images (drawing, weather, color, texture and context edits, each paired with its clean original), reporting top-1 accuracy with bootstrap intervals.",
		url: "https://huggingface.co/datasets/<org>/imagenet-tc",
	},
