"""Captions the authors of In-Context LoRA published, copied word for word as test fixtures.

Source: the public repository ali-vilab/In-Context-LoRA (Huang et al., "In-Context LoRA for Diffusion
Transformers", arXiv 2410.23775): the README's MODEL ZOO example prompt of each task LoRA, and the ten captions of
the sample storyboard training set `data/movie-shots.zip` (files 0001.txt to 0010.txt). Only the caption strings
are copied, so that the Joint Prompt Builder can be checked against them; the training images are not.
"""

# MODEL ZOO example prompts, by this pack's preset id.
EXAMPLE_PROMPTS = {
    "couple-profile": (
        "This two-part image portrays a couple of cartoon cats in detective attire; [LEFT] a black cat in "
        "a trench coat and fedora holds a magnifying glass and peers to the right, while [RIGHT] a white "
        "cat with a bow tie and matching hat raises an eyebrow in curiosity, creating a fun, "
        "noir-inspired scene against a dimly lit background."
    ),
    "film-storyboard": (
        "[MOVIE-SHOTS] In a vibrant festival, [SCENE-1] we find <Leo>, a shy boy, standing at the edge of "
        "a bustling carnival, eyes wide with awe at the colorful rides and laughter, [SCENE-2] "
        "transitioning to him reluctantly trying a daring game, his friends cheering him on, [SCENE-3] "
        "culminating in a triumphant moment as he wins a giant stuffed bear, his face beaming with pride "
        "as he holds it up for all to see."
    ),
    "font-design": (
        "The four-panel image showcases a playful bubble font in a vibrant pop-art style. [TOP-LEFT] "
        "displays \"Pop Candy\" in bright pink with a polka dot background; [TOP-RIGHT] shows \"Sweet Treat\" "
        "in purple, surrounded by candy illustrations; [BOTTOM-LEFT] has \"Yum!\" in a mix of bright "
        "colors; [BOTTOM-RIGHT] shows \"Delicious\" against a striped background, perfect for fun, "
        "kid-friendly products."
    ),
    "home-decoration": (
        "This four-panel image showcases a rustic living room with warm wood tones and cozy decor "
        "elements; [TOP-LEFT] features a large stone fireplace with wooden shelves filled with books and "
        "candles; [TOP-RIGHT] shows a vintage leather sofa draped in plaid blankets, complemented by a "
        "mix of textured cushions; [BOTTOM-LEFT] displays a corner with a wooden armchair beside a side "
        "table holding a steaming mug and a classic book; [BOTTOM-RIGHT] captures a cozy reading nook "
        "with a window seat, a soft fur throw, and decorative logs stacked neatly."
    ),
    "portrait-illustration": (
        "This two-panel image presents a transformation from a realistic portrait to a playful "
        "illustration, capturing both detail and artistic flair; [LEFT] the photograph shows a woman "
        "standing in a bustling marketplace, wearing a wide-brimmed hat, a flowing bohemian dress, and a "
        "leather crossbody bag; [RIGHT] the illustration panel exaggerates her accessories and features, "
        "with the bohemian dress depicted in vibrant patterns and bold colors, while the background is "
        "simplified into abstract market stalls, giving the scene an animated and lively feel."
    ),
    "portrait-photography": (
        "This [FOUR-PANEL] image illustrates a young artist's creative process in a bright and inspiring "
        "studio; [TOP-LEFT] she stands before a large canvas, brush in hand, adding vibrant colors to a "
        "partially completed painting, [TOP-RIGHT] she sits at a cluttered wooden table, sketching ideas "
        "in a notebook with various art supplies scattered around, [BOTTOM-LEFT] she takes a moment to "
        "step back and observe her work, adjusting her glasses thoughtfully, and [BOTTOM-RIGHT] she "
        "experiments with different textures by mixing paints directly on the palette, her focused "
        "expression showcasing her dedication to her craft."
    ),
    "ppt-templates": (
        "This four-panel image showcases a rustic-themed PowerPoint template for a culinary workshop; "
        "[TOP-LEFT] introduces \"Farm to Table Cooking\" in warm, earthy tones; [TOP-RIGHT] organizes "
        "workshop sections like \"Ingredients,\" \"Preparation,\" and \"Serving\"; [BOTTOM-LEFT] displays "
        "ingredient lists for seasonal produce; [BOTTOM-RIGHT] includes chef profiles with short bios."
    ),
    "sandstorm-visual-effect": (
        "[SANDSTORM-PSA] This two-part image showcases the transformation of a cyclist through a "
        "sandstorm visual effect; [TOP] the upper panel features a cyclist in vibrant gear pedaling "
        "steadily on a clear, open road with a serene sky in the background, highlighting focus and "
        "determination, [BOTTOM] the lower panel transforms the scene as the cyclist becomes enveloped in "
        "a fierce sandstorm, with sand particles swirling intensely around the bike and rider against a "
        "stormy, darkened backdrop, emphasizing chaos and power."
    ),
    "sparklers-visual-effect": (
        "[REAL-SPARKLERS-OVERLAYS] The two-part image vividly illustrates a woodland proposal transformed "
        "by sparkler overlays; [TOP] the first panel depicts a man kneeling on one knee with an "
        "engagement ring before his partner in a forest clearing at dusk, with warm, natural lighting, "
        "[BOTTOM] while the second panel introduces glowing sparklers that form a heart shape around the "
        "couple, amplifying the romance and joy of the moment."
    ),
    "visual-identity-design": (
        "The two-panel image showcases the joyful identity of a produce brand, with the left panel "
        "showing a smiling pineapple graphic and the brand name “Fresh Tropic” in a fun, casual font on a "
        "light aqua background; [LEFT] while the right panel translates the design onto a reusable "
        "shopping tote with the pineapple logo in black, held by a person in a market setting, "
        "emphasizing the brand’s approachable and eco-friendly vibe."
    ),
}

# data/movie-shots.zip captions (three stacked scenes each), by file name.
MOVIE_SHOTS_CAPTIONS = {
    "0001": (
        "[MOVIE-SHOTS] In this image, we see a sequence of domestic life with a young girl named "
        "<Matilda> orchestrating her morning routine: [SCENE-1] <Matilda> diligently flips pancakes on "
        "the stove, demonstrating a sense of independence and skill in the kitchen, [SCENE-2] transitions "
        "to a close-up of her face that reveals a curious and thoughtful expression peeking over the "
        "counter, [SCENE-3] concludes the scene as <Matilda> sits at the breakfast table with a stack of "
        "books and magazines nearby, while she enjoys her meal, displaying a blend of intellect and "
        "simplicity in her everyday world."
    ),
    "0002": (
        "[MOVIE-SHOTS] In a series of dynamic and vivid shots, the image captures the journey of <Alex>, "
        "a stylish traveler navigating a bustling train setting; [SCENE-1] beginning with <Alex> "
        "sprinting towards a departing train, clutching a large suitcase, against a backdrop of vibrant "
        "sunset hues and distant figures wrapped in daily routine, [SCENE-2] followed by a close-up as "
        "<Alex> pauses at the train door, exuding confidence with sunglasses momentarily raised and eyes "
        "set firmly on the horizon, evoking a sense of anticipation and introspection, [SCENE-3] and "
        "concluding with <Alex> stepping into a warmly-lit cabin interior, the intricate patterns on the "
        "walls and his nonchalant demeanor suggesting both the allure of exploration and the quiet "
        "introspection of new beginnings, effectively encapsulating the essence of adventure and "
        "self-discovery."
    ),
    "0003": (
        "[MOVIE-SHOTS] In an animated heist sequence, [SCENE-1] the image opens with <Fox>, wearing a "
        "knit mask with hypnotic eyes, surveying the horizon against a backdrop of smokestacks and a "
        "cloudy sky, [SCENE-2] transitions to <Fox> now alongside <Badger>, also masked, exchanging a "
        "determined glance under the ominous overcast, [SCENE-3] finally converges with <Fox> joined by a "
        "team that includes a wide-eyed <Cat> and a serious-looking <Mouse>, all peering cautiously over "
        "a wooden ledge, poised for action as they navigate their bold adventure."
    ),
    "0004": (
        "[MOVIE-SHOTS] In a delightful animated sequence, [SCENE-1] a young panda named <Bao> appears "
        "adorably forlorn as he lies on the floor surrounded by a scatter of vegetables, his wide eyes "
        "expressing a mix of curiosity and yearning, [SCENE-2] which quickly shifts to <Bao> gleefully "
        "rolling on his back, showcasing his playful nature amidst the same rustic setting, [SCENE-3] "
        "before finally nestling happily in a large wooden bucket, as an amused goose character, <Fei>, "
        "gazes at him affectionately, adding warmth and joy to this charming tableau."
    ),
    "0005": (
        "[MOVIE-SHOTS] In a whimsical city adventure, [SCENE-1] young <Sophie> peers over a railing with "
        "a curious plush pig beside her, capturing a moment of anticipation amidst towering skyscrapers, "
        "as [SCENE-2] a bridge raises dramatically over a bustling, rain-soaked street, featuring "
        "silhouetted streetlights and gleaming car headlights highlighting the grandeur of the cityscape, "
        "while [SCENE-3] <Sophie>, now facing forward, joyfully embraces the night as city lights "
        "illuminate the vibrant urban waterfront behind her, creating an enchanting atmosphere of "
        "exploration and wonder."
    ),
    "0006": (
        "[MOVIE-SHOTS] In a captivating sequence of moments, the image journey begins [SCENE-1] as <Anna> "
        "and <Tom> are seated together on a sun-dappled park bench, engaging in a sincere conversation "
        "that is accentuated by the vibrant greenery around them, [SCENE-2] then shifts to a quaint café "
        "where <Anna>, displaying a contemplative expression, rests her chin on her hand while <Tom> "
        "listens intently, their discussion punctuated by the soft clink of coffee cups and the "
        "background chatter of other patrons, [SCENE-3] concluding the visual narrative in an art "
        "gallery, where <Anna>, donned in a vivid purple coat, stands opposite <Tom> across a centerpiece "
        "of wildflowers, their shared gaze locked on the artistic arrangements, hinting at a deeper "
        "understanding cultivated through their interactions."
    ),
    "0007": (
        "[MOVIE-SHOTS] In this captivating montage of scenes, we follow a poignant narrative set against "
        "an elegant winter backdrop, [SCENE-1] beginning with <Elena> gazing contemplatively into the "
        "distance, a world of thoughts wrapped in the serenity of falling snowflakes; [SCENE-2] as the "
        "ambiance shifts to a bustling ice rink adorned with twinkling lights, <Elena> now stands facing "
        "<Alexei>, both enveloped in luxurious winter attire, capturing a moment of intense, unspoken "
        "emotion amidst a crowd of skaters; [SCENE-3] the focus then centers on <Alexei>, whose earnest "
        "expression and intent gaze suggest a deep conversation, as the surrounding world fades into a "
        "blur of festive lights and gentle snowfall, weaving a story of connection and unresolved "
        "feelings within this enchanting winter setting."
    ),
    "0008": (
        "[MOVIE-SHOTS] In this thrilling sequence of action-packed movie scenes, [SCENE-1] <Lola>, "
        "dressed in a casual tank top and vibrant green pants, is captured in a dynamic sprint along a "
        "city sidewalk, suggesting urgency while a character in a red jersey observes from the side, "
        "[SCENE-2] as she races against time and the traffic, her determined expression directed at an "
        "oncoming red van that adds intensity to the unfolding drama, [SCENE-3] where <Lola> is "
        "seamlessly joined by <Tom>, who pedals furiously on a bicycle beside her, both seemingly engaged "
        "in a high-stakes chase down an urban street, their determined pace reflecting a palpable tension "
        "and shared mission."
    ),
    "0009": (
        "[MOVIE-SHOTS] A scenic road trip unfolds through the lens of youthful introspection and fleeting "
        "moments of serenity; [SCENE-1] <Chris> is seen enjoying the journey, his relaxed expression "
        "captured in the car's side mirror as the vehicle cruises down an open road, symbolizing freedom "
        "and escape, [SCENE-2] transitioning to a detail shot of wildflowers delicately arranged in a "
        "Sprite bottle on the dashboard, signifying a simple beauty amid the motion, [SCENE-3] "
        "culminating in a reflective moment where <Chris> sits contemplatively against a vast, tranquil "
        "sky, while in the background, <Jesse> is seen absorbed in their own world, enhancing the theme "
        "of introspection and connection to the natural surroundings."
    ),
    "0010": (
        "[MOVIE-SHOTS] In this heartwarming and humorous sequence, [SCENE-1] <Charlie>, a curious "
        "toddler, mischievously smears green food coloring all over his face while giggling near a "
        "kitchen counter, bringing pure joy and a hint of chaos into the household; [SCENE-2] as the "
        "scene shifts to the family car, <Charlie> sits wide-eyed and innocent with the same green face, "
        "now snugly buckled in his car seat, capturing a moment of endearing surprise for those around "
        "him; [SCENE-3] finally, <Charlie> beams with a contagious smile, the car stopped at a cafe "
        "drive-thru, his green-masked happiness lighting up the vehicle interior, bringing laughter and "
        "warmth to everyone who sees him throughout this delightful and comedic slice of life adventure."
    ),
}
